import type { Readable } from 'node:stream';
import type { RepositoryConfig, TfgateConfig } from '../../config/load.js';
import { findRepository } from '../../config/resolved.js';
import { TfgateError } from '../../domain/errors.js';
import type { SourceArchiver } from '../../domain/ports.js';
import type { GitHubClient } from './client.js';

export class SourceLocationError extends TfgateError {
  override name = 'SourceLocationError';
}

/** The web host that serves a GitHub API: github.com for api.github.com, the same host for Enterprise Server. */
export function githubWebHost(apiUrl: string): string {
  const api = new URL(apiUrl);
  return api.hostname === 'api.github.com' ? 'github.com' : api.host;
}

/**
 * Which GitHub repository a configured repository's commits come from in AWS: its name on the host of
 * `github.apiUrl`, or the repository its `cloneUrl` names, which must be https on that same host (the
 * archive API is the only way in; the credential never goes anywhere else).
 */
export function githubSourceOf(repository: RepositoryConfig, apiUrl: string): string {
  if (repository.cloneUrl === undefined) return repository.name;
  let url: URL;
  try {
    url = new URL(repository.cloneUrl);
  } catch {
    throw new SourceLocationError(`${repository.name}: cloneUrl must be an https URL in AWS`);
  }
  if (url.protocol !== 'https:') throw new SourceLocationError(`${repository.name}: cloneUrl must be https in AWS`);
  if (url.username || url.password)
    throw new SourceLocationError(`${repository.name}: cloneUrl must not carry credentials`);
  const host = githubWebHost(apiUrl);
  if (url.host.toLowerCase() !== host.toLowerCase()) {
    throw new SourceLocationError(`${repository.name}: cloneUrl must be on ${host}, the GitHub host of github.apiUrl`);
  }
  const match = /^\/([A-Za-z0-9][A-Za-z0-9_.-]{0,99})\/([A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}?)(?:\.git)?\/?$/.exec(
    url.pathname,
  );
  if (!match) throw new SourceLocationError(`${repository.name}: cloneUrl must be https://${host}/OWNER/NAME(.git)`);
  return `${match[1]}/${match[2]}`;
}

/** AWS: commits come from GitHub's archive API, for configured repositories only. */
export class GitHubSourceArchiver implements SourceArchiver {
  constructor(
    private readonly config: TfgateConfig,
    private readonly client: () => Promise<Pick<GitHubClient, 'downloadTarball' | 'streamTarball'>>,
  ) {}

  async archive(repositoryName: string, sha: string): Promise<Buffer> {
    const repository = findRepository(this.config, repositoryName);
    if (!repository) throw new SourceLocationError(`repository ${JSON.stringify(repositoryName)} is not configured`);
    const source = githubSourceOf(repository, this.config.github.apiUrl);
    return (await this.client()).downloadTarball(source, sha);
  }

  async archiveStream(repositoryName: string, sha: string): Promise<Readable> {
    const repository = findRepository(this.config, repositoryName);
    if (!repository) throw new SourceLocationError(`repository ${JSON.stringify(repositoryName)} is not configured`);
    const source = githubSourceOf(repository, this.config.github.apiUrl);
    return (await this.client()).streamTarball(source, sha);
  }
}
