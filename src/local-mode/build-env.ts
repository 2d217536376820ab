/**
 * Which of the user's environment variables a local build (and so terraform, its providers and
 * provisioners) sees. The rule, documented in the README:
 *
 * 1. Everything `tfgate local` was started with passes (AWS_PROFILE, AWS_*, TF_VAR_*,
 *    TF_CLI_CONFIG_FILE, TF_PLUGIN_CACHE_DIR, proxies, mirrors, SSL_CERT_FILE, …), so terraform runs as
 *    it would in the user's shell,
 * 2. except every `TFGATE_*` variable: those are tfgate's own settings and secrets (the webhook
 *    secret, the GitHub token and App key, …). A build gets the TFGATE_* it needs from the pipeline.
 *    Also held back: TF_WORKSPACE, TF_DATA_DIR and TF_CLI_ARGS(_*), which would change which
 *    workspace tfgate selects or what its plan and apply commands do.
 * 3. `terraform.env.deny` in tfgate.yaml removes more (names, or prefixes ending in `*`);
 * 4. `terraform.env.allow`, when present, keeps only the names it matches, plus the basics a process
 *    needs (PATH, HOME, USER, LOGNAME, SHELL, LANG, LC_*, TZ, TMPDIR, TERM).
 * Rule 2 always wins: no allow entry lets a TFGATE_* variable through.
 */

export interface BuildEnvRule {
  allow?: readonly string[];
  deny?: readonly string[];
}

const TFGATE_OWN = 'TFGATE_';
const CHANGES_WHAT_TFGATE_RUNS = ['TF_WORKSPACE', 'TF_DATA_DIR', 'TF_CLI_ARGS', 'TF_CLI_ARGS_*'];
const BASICS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_*', 'TZ', 'TMPDIR', 'TERM'];

function matches(name: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => (pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern));
}

/** The user's environment as a build may see it (see the rule above). */
export function buildEnvironment(source: NodeJS.ProcessEnv, rule: BuildEnvRule = {}): Record<string, string> {
  const passed: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined) continue;
    if (name.toUpperCase().startsWith(TFGATE_OWN)) continue;
    if (matches(name, CHANGES_WHAT_TFGATE_RUNS)) continue;
    if (rule.deny && matches(name, rule.deny)) continue;
    if (rule.allow && !matches(name, rule.allow) && !matches(name, BASICS)) continue;
    passed[name] = value;
  }
  return passed;
}
