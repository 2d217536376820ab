import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for GitHub's manifest conversion endpoint on 127.0.0.1, laid out as GitHub Enterprise
 * Server does (API under /api/v3, web pages at the root): `POST /api/v3/app-manifests/{code}/conversions`
 * answers once per code, as GitHub does, and every call is recorded.
 */

export interface ConvertedApp {
  id: number;
  slug: string;
  name: string;
  html_url: string;
  pem: string;
  webhook_secret: string;
  client_id: string;
  client_secret: string;
}

export interface FakeManifestGitHub {
  apiUrl: string;
  webUrl: string;
  /** code → the App GitHub created for it; a code is removed once converted. */
  codes: Map<string, ConvertedApp>;
  calls: Array<{ method: string; path: string; authorization: string | undefined }>;
  /** Codes whose conversion never answers (a hung GitHub). */
  hang: Set<string>;
  close(): Promise<void>;
}

const CONVERSION = /^\/api\/v3\/app-manifests\/([^/]+)\/conversions$/;

export async function startFakeManifestGitHub(): Promise<FakeManifestGitHub> {
  const codes = new Map<string, ConvertedApp>();
  const calls: FakeManifestGitHub['calls'] = [];
  const hang = new Set<string>();
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    calls.push({ method: request.method ?? '', path, authorization: request.headers.authorization });
    request.resume();
    request.on('end', () => {
      const match = CONVERSION.exec(path);
      if (match && hang.has(decodeURIComponent(match[1]!))) return;
      const app = match && request.method === 'POST' ? codes.get(decodeURIComponent(match[1]!)) : undefined;
      if (!match || !app) {
        response.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
        return;
      }
      codes.delete(decodeURIComponent(match[1]!));
      response
        .writeHead(201, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ...app, node_id: 'A_kwDO', owner: { login: 'acme' }, permissions: {}, events: [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const webUrl = `http://127.0.0.1:${port}`;
  return {
    apiUrl: `${webUrl}/api/v3`,
    webUrl,
    codes,
    calls,
    hang,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
