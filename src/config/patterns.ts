/**
 * The rules tfgate.yaml values must follow, shared by the file's schema (schema.ts, full zod, used
 * where the file is read) and the decoder of the resolved configuration the Lambda functions receive
 * (resolved.ts, zod/mini): one set of patterns, so the two can never drift apart. Free of zod on
 * purpose, so importing it costs a function bundle nothing.
 */

export const REPOSITORY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9_.][A-Za-z0-9_.-]{0,99}$/;
// Terraform workspace names end up as directory names under workspace_dir.
export const ENVIRONMENT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
// A conservative subset of git-check-ref-format: no spaces, control characters, `..`, `~^:?*[\`.
export const BRANCH_NAME = /^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/-]{1,200}(?<![./])$/;
export const DIRECTORY = /^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._/-]{1,200}$/;
export const EMAIL = /^[^\s@<>"']+@[^\s@<>"']+\.[^\s@<>"']+$/;
// Who may approve or view: a GitHub login (`@alice`), a GitHub team (`@acme/platform`, by its slug) or an email
// address.
export const GITHUB_LOGIN_ENTRY = /^@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
export const GITHUB_TEAM_ENTRY = /^@[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
// `people:` names a GitHub login bare (`github: alice`), as GitHub spells it.
export const GITHUB_LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
export const PERSON_ENTRY_RULE = 'must be a GitHub login (@alice), a GitHub team (@acme/platform) or an email address';
export function isPersonEntry(entry: string): boolean {
  return GITHUB_LOGIN_ENTRY.test(entry) || GITHUB_TEAM_ENTRY.test(entry) || EMAIL.test(entry);
}
/** approval.required: each approval is one more item in a conditional write, so the count is bounded. */
export const MAX_REQUIRED_APPROVALS = 10;
export const MISSING_APPROVERS =
  'a gate needs at least one approver (a GitHub login @alice, a team @acme/platform or an email address); an ' +
  'approval without approvers would let anyone approve';
export const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
export const TERRAFORM_VERSION = /^\d+\.\d+\.\d+(?:-[A-Za-z0-9.]+)?$/;
// terraform.env allow/deny entries: a variable name, or a name prefix ending in `*` (TF_VAR_*).
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}\*?$/;
/**
 * A path of the user's machine deploy builds may read (terraform.sandbox.readOnly): absolute, or under
 * the user's home as `~/…`; one line, no `..` segment, not the whole home or `/`.
 */
export const SANDBOX_READ_ONLY_PATH = /^(?!.*(?:^|\/)\.\.(?:\/|$))~?\/[^\0\n\r]*[^/\0\n\r]$/;
export const DRIFT_SCHEDULE = /^rate\(\d+ (?:minute|minutes|hour|hours|day|days)\)$/;

// Step Functions waits are capped well below the execution limit, and below the 24.8 days a Node timer
// can hold (the local engine runs the same timeouts).
export const MAX_WAIT_SECONDS = 14 * 86400;

/** Builds fetch from it, so it must not read as an option or split into several words. */
export function isSafeCloneUrl(url: string): boolean {
  return url.length > 0 && !/[\s\0]/.test(url) && !url.startsWith('-');
}

/**
 * Where `people:` binds one login or address twice (a login listed for two people, an address bound to two people
 * or twice to one): `[index of the entry, what is wrong]`. Entries are compared lower-case, as sign-ins are.
 */
export function peopleBindingProblems(
  people: ReadonlyArray<{ github: string; emails: readonly string[] }>,
): Array<{ index: number; field: 'github' | 'emails'; emailIndex?: number; message: string }> {
  const problems: Array<{ index: number; field: 'github' | 'emails'; emailIndex?: number; message: string }> = [];
  const logins = new Map<string, number>();
  const emails = new Map<string, number>();
  people.forEach((person, index) => {
    const login = person.github.toLowerCase();
    const first = logins.get(login);
    if (first !== undefined)
      problems.push({ index, field: 'github', message: `@${login} is already listed (people entry ${first + 1})` });
    else logins.set(login, index);
    person.emails.forEach((email, emailIndex) => {
      const address = email.toLowerCase();
      const owner = emails.get(address);
      if (owner !== undefined)
        problems.push({
          index,
          field: 'emails',
          emailIndex,
          message:
            owner === index
              ? `${address} is listed twice for @${login}`
              : `${address} is already bound to @${people[owner]!.github.toLowerCase()}: an address belongs to one ` +
                'person',
        });
      else emails.set(address, index);
    });
  });
  return problems;
}
