import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostName, loopbackHosts } from '../auth/sign-in.js';
import { MAX_WEBHOOK_BODY_BYTES, text, type HttpHandler, type HttpRequest, type HttpResponse } from '../http.js';

/**
 * The local HTTP server: translates node:http to the transport-free HttpRequest the route handlers
 * take, exactly as the Lambda function URL adapters do in AWS.
 */

export interface Route {
  /** Exact path or a prefix ending in '/'. */
  path: string;
  handler: HttpHandler;
  maxBodyBytes: number;
  /** Reached without signing in (only the webhook, which proves itself with its signature). */
  public?: boolean;
}

const DEFAULT_MAX_BODY = 1024 * 1024;

export function webhookRoute(handler: HttpHandler): Route {
  return { path: '/webhook', handler, maxBodyBytes: MAX_WEBHOOK_BODY_BYTES, public: true };
}

function pick(routes: Route[], path: string): Route | undefined {
  return routes.find((route) => (route.path.endsWith('/') ? path.startsWith(route.path) : path === route.path));
}

/** Reads at most `limit` bytes; past it, stops reading and reports `tooLarge` (the answer is 413). */
async function readBody(request: IncomingMessage, limit: number): Promise<{ body: Buffer; tooLarge: boolean }> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limit) return { body: Buffer.alloc(0), tooLarge: true };
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > limit) return { body: Buffer.alloc(0), tooLarge: true };
    chunks.push(chunk as Buffer);
  }
  return { body: Buffer.concat(chunks), tooLarge: false };
}

function toRequest(request: IncomingMessage, body: Buffer): HttpRequest {
  const url = new URL(request.url ?? '/', 'http://localhost');
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(request.headers))
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) if (!(key in query)) query[key] = value;
  const clientAddress = request.socket.remoteAddress;
  return {
    method: (request.method ?? 'GET').toUpperCase(),
    path: url.pathname,
    query,
    headers,
    body,
    ...(clientAddress ? { clientAddress } : {}),
  };
}

function send(response: ServerResponse, result: HttpResponse, headOnly: boolean): void {
  response.writeHead(result.status, {
    ...result.headers,
    ...(result.cookies?.length ? { 'set-cookie': result.cookies } : {}),
    'content-length': Buffer.byteLength(result.body),
  });
  response.end(headOnly ? undefined : result.body);
}

export interface LocalServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

export interface ServerOptions {
  host: string;
  port: number;
  onError?: (error: unknown) => void;
  /**
   * The sign-in gate, put in front of every route not marked public and of the fallback: a route
   * added later is covered without anyone remembering to.
   */
  protect: (handler: HttpHandler) => HttpHandler;
}

export async function startServer(
  routes: Route[],
  fallback: HttpHandler,
  options: ServerOptions,
): Promise<LocalServer> {
  const guarded = new Map<HttpHandler, HttpHandler>();
  const handlerFor = (route: Route | undefined): HttpHandler => {
    const handler = route?.handler ?? fallback;
    if (route?.public) return handler;
    const known = guarded.get(handler);
    if (known) return known;
    const wrapped = options.protect(handler);
    guarded.set(handler, wrapped);
    return wrapped;
  };
  let allowedHosts: Set<string> = new Set();
  const server = createServer((request, response) => {
    void (async () => {
      // A page on another site whose name resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host.
      if (!allowedHosts.has(hostName(request.headers.host))) {
        request.resume();
        send(response, text(421, 'this server does not answer to that host name'), false);
        return;
      }
      const path = new URL(request.url ?? '/', 'http://localhost').pathname;
      const route = pick(routes, path);
      const { body, tooLarge } = await readBody(request, route?.maxBodyBytes ?? DEFAULT_MAX_BODY);
      if (tooLarge) {
        response.setHeader('connection', 'close');
        send(response, text(413, 'request body too large'), false);
        request.resume();
        return;
      }
      const handled = await handlerFor(route)(toRequest(request, body));
      send(response, handled, request.method === 'HEAD');
    })().catch((error: unknown) => {
      // A client that went away before sending its whole body (closed, timed out) is not a server
      // fault: there is nobody to answer, and a stack trace in the log would only alarm.
      if (!request.complete && (error as NodeJS.ErrnoException)?.code === 'ECONNRESET') {
        response.destroy();
        return;
      }
      options.onError?.(error);
      if (!response.headersSent) send(response, text(500, 'internal error'), false);
      else response.destroy();
    });
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  allowedHosts = loopbackHosts(options.host);
  allowedHosts.add(host.toLowerCase());
  return {
    server,
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
