/**
 * What `tfgate local` (and `tfgate demo`) start from when there is no tfgate.yaml: one repository
 * with a small Terraform configuration in the Kubestack shape (one root, one workspace per
 * environment), using only terraform_data so it plans and applies with no provider download.
 */

export const STARTER_REPOSITORY = 'example/infrastructure';
/** The approver the starter configuration names (and the demo signs in as). */
export const STARTER_APPROVER = 'you@example.com';

export function starterConfig(cloneUrl: string): string {
  return `# Written by tfgate local because no tfgate.yaml was found. Edit it and restart tfgate local.
repositories:
  - name: ${STARTER_REPOSITORY}
    branch: main
    directory: .
    cloneUrl: ${JSON.stringify(cloneUrl)}
    environments:
      - name: ops            # applied first: it validates every change
      - name: apps           # the critical environment: applied only after approval
        approval:
          # Who may approve: GitHub logins (@alice), GitHub teams (@acme/platform) or email addresses.
          # Put yourself here. Locally: \`tfgate approve ID --as ${STARTER_APPROVER}\`, or sign in on the
          # runs page with this address (the one-time link is printed on the console).
          approvers: [${STARTER_APPROVER}]
          timeout: 24h
`;
}

/** The example's Terraform root: the demo's change bumps the cluster and adds an ingress. */
function exampleMainTf(clusterVersion: string, withIngress: boolean): string {
  const ingress = withIngress ? `\nresource "terraform_data" "ingress" {\n  input = "\${local.cluster_name}-ingress"\n}\n` : '';
  return `# Every environment runs this same code; the workspace name (ops, apps) picks the settings.
locals {
  cluster_name = "kbst-\${terraform.workspace}"
}

resource "terraform_data" "network" {
  input = "\${local.cluster_name}-network"
}

resource "terraform_data" "cluster" {
  input = "\${local.cluster_name}-${clusterVersion}"
}
${ingress}
output "cluster" {
  value = "\${local.cluster_name}-${clusterVersion}"
}
`;
}

export const STARTER_FILES: Record<string, string> = {
  'main.tf': exampleMainTf('v1', false),
  'README.md': '# example/infrastructure\n\nManaged by tfgate: push to main to plan and apply ops, then approve apps.\n',
};

/** The change the demo pushes: one resource updated, one added. */
export const DEMO_CHANGE: Record<string, string> = { 'main.tf': exampleMainTf('v2', true) };
