import {
  BatchGetBuildsCommand,
  type Build,
  type CodeBuildClient,
  ListBuildsForProjectCommand,
  StopBuildCommand,
} from '@aws-sdk/client-codebuild';
import type { BuildController, StageBuildQuery } from '../../domain/ports.js';

/**
 * StopBuild for a stage whose build task timed out. The .sync task never hands back the build id
 * when it times out, so the build is found by what the definition started it with: its environment
 * overrides name the run, the environment and the mode. The newest 100 builds of the project are
 * searched (newest first), which covers any build a live run can still have.
 */
export class CodeBuildController implements BuildController {
  constructor(
    private readonly client: CodeBuildClient,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    private readonly pollMs = 3_000,
  ) {}

  async stopStageBuilds(query: StageBuildQuery, waitMs: number): Promise<{ stopped: number; stillRunning: number }> {
    const listed = await this.client.send(
      new ListBuildsForProjectCommand({ projectName: query.projectName, sortOrder: 'DESCENDING' }),
    );
    const ids = listed.ids ?? [];
    if (ids.length === 0) return { stopped: 0, stillRunning: 0 };
    const unfinished = (await this.describe(ids)).filter(
      (build) => !build.buildComplete && matchesStageBuild(build, query),
    );
    for (const build of unfinished) {
      // A build that ended between the two calls answers with an error; the poll below sees it ended.
      await this.client.send(new StopBuildCommand({ id: build.id! })).catch(() => undefined);
    }
    let pending = unfinished.map((build) => build.id!);
    const deadline = Date.now() + waitMs;
    while (pending.length > 0 && Date.now() < deadline) {
      await this.sleep(this.pollMs);
      pending = (await this.describe(pending)).filter((build) => !build.buildComplete).map((build) => build.id!);
    }
    return { stopped: unfinished.length, stillRunning: pending.length };
  }

  private async describe(ids: string[]): Promise<Build[]> {
    const answer = await this.client.send(new BatchGetBuildsCommand({ ids: ids.slice(0, 100) }));
    return answer.builds ?? [];
  }
}

/** Whether a build is the one the definition started for this run, environment and mode (its overrides say). */
export function matchesStageBuild(build: Build, query: StageBuildQuery): boolean {
  const variables = new Map((build.environment?.environmentVariables ?? []).map((v) => [v.name, v.value]));
  return (
    variables.get('TFGATE_RUN_ID') === query.runId &&
    variables.get('TFGATE_ENVIRONMENT') === query.environment &&
    variables.get('TFGATE_MODE') === query.mode
  );
}
