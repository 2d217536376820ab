import {
  BatchGetBuildsCommand,
  type Build,
  type CodeBuildClient,
  ListBuildsForProjectCommand,
} from '@aws-sdk/client-codebuild';
import {
  type CloudWatchLogsClient,
  GetLogEventsCommand,
  type OutputLogEvent,
  ResourceNotFoundException,
} from '@aws-sdk/client-cloudwatch-logs';
import { TfgateError } from '../../domain/errors.js';
import type { BuildLogQuery, BuildLogs, BuildLogTail } from '../../domain/ports.js';
import { matchesStageBuild } from './codebuild-builds.js';

/**
 * A CodeBuild build's output for the run page: the build is found by the overrides the definition
 * started it with (run, environment, mode), as StopBuild finds it; its CloudWatch Logs stream is read
 * from the end with GetLogEvents. The web function may read the build projects and their log groups
 * only (infra/functions.ts).
 */

export class BuildLogsUnavailableError extends TfgateError {
  override name = 'BuildLogsUnavailableError';
}

interface Located {
  group: string;
  stream: string;
  location?: string;
}

export class CodeBuildLogs implements BuildLogs {
  /** A build's log stream never moves: found once per function instance, then only read. */
  private readonly located = new Map<string, Located>();

  constructor(
    private readonly codebuild: CodeBuildClient,
    private readonly logs: CloudWatchLogsClient,
  ) {}

  async tail(query: BuildLogQuery, maxLines: number): Promise<BuildLogTail | undefined> {
    const key = JSON.stringify([query.projectName, query.runId, query.environment, query.mode]);
    let where = this.located.get(key);
    if (!where) {
      const build = await this.find(query);
      if (!build) return undefined;
      const location = consoleLink(build);
      const group = build.logs?.groupName;
      const stream = build.logs?.streamName;
      // Just started: CodeBuild names the stream once the build has a container.
      if (!group || !stream) return { lines: [], truncated: false, ...(location ? { location } : {}) };
      where = { group, stream, ...(location ? { location } : {}) };
      this.located.set(key, where);
      if (this.located.size > 1000) this.located.delete(this.located.keys().next().value!);
    }
    const location = where.location ? { location: where.location } : {};
    let events: OutputLogEvent[];
    try {
      const answer = await this.logs.send(
        new GetLogEventsCommand({
          logGroupName: where.group,
          logStreamName: where.stream,
          startFromHead: false,
          limit: maxLines,
        }),
      );
      events = answer.events ?? [];
    } catch (error) {
      // The stream appears with the build's first output line.
      if (error instanceof ResourceNotFoundException) return { lines: [], truncated: false, ...location };
      const message = `cannot read the build log ${where.group}/${where.stream}: ${(error as Error).message}`;
      throw new BuildLogsUnavailableError(message, { cause: error });
    }
    // One event per line as CodeBuild writes them, each with its newline.
    const lines = events.flatMap((event) => (event.message ?? '').replace(/\r?\n$/, '').split('\n'));
    return { lines: lines.slice(-maxLines), truncated: events.length >= maxLines, ...location };
  }

  private async find(query: BuildLogQuery): Promise<Build | undefined> {
    try {
      const listed = await this.codebuild.send(
        new ListBuildsForProjectCommand({ projectName: query.projectName, sortOrder: 'DESCENDING' }),
      );
      const ids = (listed.ids ?? []).slice(0, 100);
      if (ids.length === 0) return undefined;
      const answer = await this.codebuild.send(new BatchGetBuildsCommand({ ids }));
      return (answer.builds ?? []).find((build) => matchesStageBuild(build, query));
    } catch (error) {
      const message =
        `cannot find the ${query.environment} ${query.mode} build of run ${query.runId}: ` +
        `${(error as Error).message}`;
      throw new BuildLogsUnavailableError(message, { cause: error });
    }
  }
}

/** The build's page in the CodeBuild console (phases, log, environment); CloudWatch's link without an ARN. */
export function consoleLink(build: Build): string | undefined {
  // arn:aws:codebuild:<region>:<account>:build/<project>:<uuid>
  const arn = /^arn:aws:codebuild:([a-z0-9-]+):(\d{12}):build\/([A-Za-z0-9_-]+):([A-Za-z0-9-]+)$/.exec(build.arn ?? '');
  if (arn) {
    const [, region, account, project] = arn;
    const id = encodeURIComponent(`${project}:${arn[4]}`);
    const consoleBase = `https://${region}.console.aws.amazon.com/codesuite/codebuild`;
    return `${consoleBase}/${account}/projects/${project}/build/${id}/log?region=${region}`;
  }
  const deepLink = build.logs?.deepLink;
  return deepLink?.startsWith('https://') ? deepLink : undefined;
}
