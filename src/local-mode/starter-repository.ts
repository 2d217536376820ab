/**
 * The one Terraform template tfgate writes: `tfgate init` into a directory of the user's, `tfgate
 * local` into its starter repository when there is no tfgate.yaml, and `tfgate demo`, which pushes a
 * change to it. Kubestack's shape: one root, one workspace per environment, and a `configuration`
 * in which `apps` holds the base settings and every other environment inherits them, overriding only
 * what differs (the local module `modules/configuration` does the merge, so ops cannot drift from
 * apps except where written). Only terraform_data and a local module: it plans and applies offline,
 * with no provider download.
 */

export const STARTER_REPOSITORY = 'example/infrastructure';
/** The approver the starter configuration names (and the demo signs in as). */
export const STARTER_APPROVER = 'you@example.com';
export const STARTER_APPROVER_LOGIN = 'you';

/** The settings of one environment: every key of the base, or only the overrides for the others. */
export type EnvironmentSettings = Record<string, string>;

export interface TemplateSettings {
  /** `apps`: complete. */
  base: EnvironmentSettings;
  /** `ops`: only what differs from apps. */
  ops: EnvironmentSettings;
}

export const STARTER_SETTINGS: TemplateSettings = {
  base: {
    name_prefix: 'kbst',
    region: 'eu-west-1',
    cluster_version: '1.30',
    node_count: '3',
    instance_type: 'm5.large',
  },
  ops: { node_count: '1' },
};

/** The change the demo pushes: a base key of apps, which ops inherits, so both plans show it. */
export const DEMO_SETTINGS: TemplateSettings = {
  ...STARTER_SETTINGS,
  base: { ...STARTER_SETTINGS.base, cluster_version: '1.31' },
};
export const DEMO_CHANGE_DESCRIPTION = 'apps base setting cluster_version 1.30 → 1.31, inherited by ops';

function hclMap(settings: EnvironmentSettings, indent: string): string {
  const width = Math.max(0, ...Object.keys(settings).map((key) => key.length));
  return Object.entries(settings)
    .map(([key, value]) => `${indent}${key.padEnd(width)} = ${JSON.stringify(value)}`)
    .join('\n');
}

/** config.tf: the only file a settings change touches. */
export function configurationTf(settings: TemplateSettings): string {
  return `# Settings per environment (the Terraform workspace picks one). apps holds the base settings;
# every other environment inherits them and lists only what differs.
locals {
  configuration = {
    # apps: the critical environment (applied after approval), and the base of the others.
    apps = {
${hclMap(settings.base, '      ')}
    }

    # ops: applied first, to validate every change. Only the keys that differ from apps.
    ops = {
${hclMap(settings.ops, '      ')}
    }
  }
}
`;
}

const MAIN_TF = `# One Terraform root, one workspace per environment (ops, apps): every environment runs this
# same code; the workspace picks its settings from config.tf, merged over apps' base settings.
module "settings" {
  source        = "./modules/configuration"
  configuration = local.configuration
  base_key      = "apps"
  workspace     = terraform.workspace
}

locals {
  settings     = module.settings.current
  cluster_name = "\${local.settings.name_prefix}-\${terraform.workspace}"
}

# terraform_data stands in for real infrastructure: replace it with your provider's resources.
resource "terraform_data" "cluster" {
  input = {
    name    = local.cluster_name
    region  = local.settings.region
    version = local.settings.cluster_version
  }
}

resource "terraform_data" "node_pool" {
  input = {
    cluster       = terraform_data.cluster.output.name
    node_count    = local.settings.node_count
    instance_type = local.settings.instance_type
  }
}

output "settings" {
  description = "The complete settings this workspace ran with."
  value       = local.settings
}
`;

/** Terraform's own text: the interpolations are Terraform's, kept out of the JavaScript template. */
const UNKNOWN_WORKSPACE_MESSAGE =
  `The workspace \\"\${var.workspace}\\" is not an environment of the configuration ` +
  `(\${join(", ", keys(var.configuration))}): select one with terraform workspace select.`;

const CONFIGURATION_MODULE_TF =
  '# The inheritance: the base environment holds every setting; each other environment starts from\n' +
  `# it and overrides only the keys it names.
variable "configuration" {
  description = "Settings per environment: the base environment complete, the others only what differs."
  type        = map(map(string))
}

variable "base_key" {
  description = "The environment every other one inherits from."
  type        = string
  default     = "apps"

  validation {
    condition     = contains(keys(var.configuration), var.base_key)
    error_message = "The base environment \\"\${var.base_key}\\" is missing from the configuration."
  }
}

variable "workspace" {
  description = "The environment being planned: the Terraform workspace."
  type        = string

  validation {
    condition     = contains(keys(var.configuration), var.workspace)
    error_message = "${UNKNOWN_WORKSPACE_MESSAGE}"
  }
}

locals {
  merged = {
    for name, settings in var.configuration : name => merge(var.configuration[var.base_key], settings)
  }
}

output "merged" {
  description = "Every environment's complete settings."
  value       = local.merged
}

output "current" {
  description = "The complete settings of the workspace's environment."
  value       = local.merged[var.workspace]
}
`;

const GITIGNORE = `.terraform/
*.tfstate
*.tfstate.*
*.tfplan
.tfgate/
`;

function readme(repository: string): string {
  return `# ${repository}

Terraform by GitOps with tfgate, the Kubestack way: one root, one workspace per environment.

- \`config.tf\`: the settings. \`apps\` holds the base settings; \`ops\` inherits them and lists only what
  differs (\`modules/configuration\` does the merge).
- \`main.tf\`: the resources, the same code for every environment.
- \`tfgate.yaml\`: the environments in promotion order and who approves \`apps\`.

A push to main is planned and applied to ops first; then apps is planned, and that plan is applied
after an approver approves it.
`;
}

export interface ConfigOptions {
  repository: string;
  approver: string;
  /** Where commits come from (the starter's bare repository); omitted: the default for the repository. */
  cloneUrl?: string;
  /** First line: who wrote the file and why. */
  header: string;
  /** A GitHub login to bind the approver's address to under `people:` (the starter's stand-in person). */
  approverLogin?: string;
}

export function tfgateYaml(options: ConfigOptions): string {
  const cloneUrlLine = options.cloneUrl !== undefined ? `    cloneUrl: ${JSON.stringify(options.cloneUrl)}\n` : '';
  return `# ${options.header}
repositories:
  - name: ${options.repository}
    branch: main
    directory: .
${cloneUrlLine}    environments:            # promotion order; each is also the Terraform workspace name
      - name: ops            # applied first: it validates every change
      - name: apps           # the critical environment: applied only after approval
        approval:
          # Who may approve: GitHub logins (@alice), GitHub teams (@acme/platform) or email addresses.
          # Put yourself here. Locally: \`tfgate approve ID --as ${options.approver}\`, or sign in on the
          # runs page with this address (the one-time link is printed on the console).
          approvers: [${JSON.stringify(options.approver)}]
          timeout: 24h
${
  options.approverLogin
    ? `people:                      # one person however they sign in: a GitHub login and that person's addresses
  - github: ${options.approverLogin}                # put your GitHub login and your address(es) here
    emails: [${JSON.stringify(options.approver)}]
`
    : ''
}`;
}

/** The Terraform root (no tfgate.yaml): what the starter repository holds and what the demo changes. */
export function terraformRootFiles(
  repository: string,
  settings: TemplateSettings = STARTER_SETTINGS,
): Record<string, string> {
  return {
    'main.tf': MAIN_TF,
    'config.tf': configurationTf(settings),
    'modules/configuration/main.tf': CONFIGURATION_MODULE_TF,
    '.gitignore': GITIGNORE,
    'README.md': readme(repository),
  };
}

/** What `tfgate init` writes: the Terraform root and its tfgate.yaml. */
export function initFiles(options: { repository: string; approver: string }): Record<string, string> {
  return {
    ...terraformRootFiles(options.repository),
    'tfgate.yaml': tfgateYaml({
      ...options,
      header:
        'Written by tfgate init. tfgate local reads it from this directory; cdk deploy from the file you point it at.',
    }),
  };
}

export function starterConfig(cloneUrl: string): string {
  return tfgateYaml({
    repository: STARTER_REPOSITORY,
    approver: STARTER_APPROVER,
    // An email sign-in that no binding ties to a login may not approve changes by people tfgate cannot compare
    // with it (the local pushes here): the starter's approver is bound to a stand-in login.
    approverLogin: STARTER_APPROVER_LOGIN,
    cloneUrl,
    header: 'Written by tfgate local because no tfgate.yaml was found. Edit it and restart tfgate local.',
  });
}

export const STARTER_FILES: Record<string, string> = terraformRootFiles(STARTER_REPOSITORY);

/** The change the demo pushes: config.tf with a new base value in apps. */
export const DEMO_CHANGE: Record<string, string> = { 'config.tf': configurationTf(DEMO_SETTINGS) };
