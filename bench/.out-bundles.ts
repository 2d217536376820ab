import { buildFunctionBundle, FUNCTION_NAMES } from './bundle.js';
for (const name of FUNCTION_NAMES) {
  const b = await buildFunctionBundle(name, `/tmp/bundles/${name}`);
  console.log(name, (b.bytes / 1024).toFixed(1), 'KB', b.contributors.slice(0, 7).map((c) => `${c.name}:${(c.bytes / 1024).toFixed(0)}`).join(' '));
}
