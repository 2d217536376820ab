import {
  BatchGetBuildsCommand,
  type Build,
  CodeBuildClient,
  ListBuildsForProjectCommand,
  StopBuildCommand,
} from '@aws-sdk/client-codebuild';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CodeBuildController } from '../../src/adapters/aws/codebuild-builds.js';

const codebuild = mockClient(CodeBuildClient);
afterEach(() => codebuild.reset());

const build = (id: string, vars: Record<string, string>, buildComplete: boolean): Build => ({
  id,
  buildComplete,
  environment: {
    type: 'ARM_CONTAINER',
    image: 'img',
    computeType: 'BUILD_GENERAL1_SMALL',
    environmentVariables: Object.entries(vars).map(([name, value]) => ({ name, value, type: 'PLAINTEXT' as const })),
  },
});
const stage = { TFGATE_RUN_ID: 'run-1', TFGATE_ENVIRONMENT: 'ops', TFGATE_MODE: 'apply' };

describe('CodeBuildController (stopBuild in AWS)', () => {
  it("stops only the run's unfinished build of that stage and mode, and waits until it has ended", async () => {
    codebuild
      .on(ListBuildsForProjectCommand, { projectName: 'tfgate-ops', sortOrder: 'DESCENDING' })
      .resolves({ ids: ['b-other-run', 'b-plan', 'b-apply', 'b-done'] });
    let polls = 0;
    codebuild.on(BatchGetBuildsCommand).callsFake((input: { ids: string[] }) => {
      if (input.ids.length === 1) {
        polls += 1;
        return { builds: [build('b-apply', stage, polls >= 2)] };
      }
      return {
        builds: [
          build('b-other-run', { ...stage, TFGATE_RUN_ID: 'run-2' }, false),
          build('b-plan', { ...stage, TFGATE_MODE: 'plan' }, false),
          build('b-apply', stage, false),
          build('b-done', stage, true),
        ],
      };
    });
    codebuild.on(StopBuildCommand).resolves({});
    const controller = new CodeBuildController(new CodeBuildClient({ region: 'eu-west-1' }), async () => undefined, 0);
    const result = await controller.stopStageBuilds(
      { projectName: 'tfgate-ops', runId: 'run-1', environment: 'ops', mode: 'apply' },
      10_000,
    );
    expect(result).toEqual({ stopped: 1, stillRunning: 0 });
    expect(codebuild.commandCalls(StopBuildCommand).map((call) => call.args[0].input)).toEqual([{ id: 'b-apply' }]);
    expect(polls).toBe(2);
  });

  it('says so when the build has not ended by the deadline (the definition retries)', async () => {
    codebuild.on(ListBuildsForProjectCommand).resolves({ ids: ['b-apply'] });
    codebuild.on(BatchGetBuildsCommand).resolves({ builds: [build('b-apply', stage, false)] });
    codebuild.on(StopBuildCommand).rejects(new Error('already stopping'));
    const controller = new CodeBuildController(new CodeBuildClient({ region: 'eu-west-1' }), async () => undefined, 0);
    expect(
      await controller.stopStageBuilds(
        { projectName: 'tfgate-ops', runId: 'run-1', environment: 'ops', mode: 'apply' },
        0,
      ),
    ).toEqual({ stopped: 1, stillRunning: 1 });
  });
});
