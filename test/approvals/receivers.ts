import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Stand-ins for the outside world the notifiers talk to: a Slack incoming webhook and an SMTP server. */

export interface SlackReceiver {
  /** The webhook URL; its path plays the secret part of a real one. */
  url: string;
  secretPath: string;
  messages: Array<Record<string, unknown>>;
  requests: Array<{ method: string; path: string; contentType: string | undefined }>;
  /** Status codes to answer with, in order, before answering 200. */
  failWith: number[];
  close(): Promise<void>;
}

export async function startSlackReceiver(): Promise<SlackReceiver> {
  const secretPath = '/services/T000SECRET/B000SECRET/XXXXsecretXXXX';
  const receiver = { messages: [], requests: [], failWith: [], secretPath } as unknown as SlackReceiver;
  const server = createHttpServer(async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    receiver.requests.push({
      method: request.method ?? '',
      path: request.url ?? '',
      contentType: request.headers['content-type'],
    });
    const status = receiver.failWith.shift();
    if (status !== undefined) {
      response
        .writeHead(status, status === 429 ? { 'retry-after': '0' } : {})
        .end(status === 404 ? 'no_service' : 'try later');
      return;
    }
    if (request.url !== secretPath) {
      response.writeHead(404).end('no_service');
      return;
    }
    receiver.messages.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
    response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  receiver.url = `http://127.0.0.1:${port}${secretPath}`;
  receiver.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return receiver;
}

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The whole message as sent, headers and MIME parts. */
  raw: string;
  /** The message with quoted-printable soft breaks and escapes undone, for searching. */
  decoded: string;
}

export interface SmtpReceiver {
  host: string;
  port: number;
  mails: ReceivedMail[];
  close(): Promise<void>;
}

export function decodeQuotedPrintable(text: string): string {
  const bytes = text
    .replace(/=\r?\n/g, '')
    .replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** Just enough SMTP (RFC 5321) for nodemailer to deliver a message: no TLS, no AUTH. */
export async function startSmtpReceiver(): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    let inData = false;
    let from = '';
    let to: string[] = [];
    const reply = (line: string) => socket.write(`${line}\r\n`);
    reply('220 test-smtp ready');
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buffer.indexOf('\r\n.\r\n');
          if (end < 0) return;
          const raw = Buffer.from(buffer.slice(0, end).replace(/\r\n\.\./g, '\r\n.'), 'latin1').toString('utf8');
          buffer = buffer.slice(end + 5);
          inData = false;
          mails.push({ from, to, raw, decoded: decodeQuotedPrintable(Buffer.from(raw, 'utf8').toString('latin1')) });
          from = '';
          to = [];
          reply('250 queued');
          continue;
        }
        const newline = buffer.indexOf('\r\n');
        if (newline < 0) return;
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') reply('250 test-smtp');
        else if (verb === 'MAIL') {
          from = /<([^>]*)>/.exec(line)?.[1] ?? '';
          reply('250 ok');
        } else if (verb === 'RCPT') {
          to.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
          reply('250 ok');
        } else if (verb === 'DATA') {
          inData = true;
          reply('354 go ahead');
        } else if (verb === 'QUIT') {
          reply('221 bye');
          socket.end();
        } else reply('250 ok');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    mails,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Every URL in a Slack message's buttons, with its label. */
export function slackButtons(message: Record<string, unknown>): Array<{ label: string; url: string }> {
  const blocks = (message.blocks ?? []) as Array<{
    type: string;
    elements?: Array<{ type: string; url?: string; text?: { text: string } }>;
  }>;
  return blocks
    .filter((block) => block.type === 'actions')
    .flatMap((block) => block.elements ?? [])
    .filter((element) => element.type === 'button' && element.url)
    .map((element) => ({ label: element.text?.text ?? '', url: element.url! }));
}
