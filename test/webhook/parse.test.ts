import { describe, expect, it } from 'vitest';
import { bodyFormatOf, parseBody } from '../../lambdas/webhook/parse.js';

describe('content types', () => {
  it.each([
    ['application/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['Application/JSON;charset=UTF-8', 'json'],
    ['application/x-www-form-urlencoded', 'form'],
    ['application/x-www-form-urlencoded; charset=utf-8', 'form'],
  ])('%s is read as %s', (contentType, format) => {
    expect(bodyFormatOf(contentType)).toBe(format);
  });

  it.each([
    undefined,
    '',
    'text/plain',
    'application/xml',
    'multipart/form-data; boundary=x',
    'application/json; charset=latin1',
    'application/jsonp',
  ])('%s is not read', (contentType) => {
    expect(bodyFormatOf(contentType)).toBeUndefined();
  });
});

describe('body parsing', () => {
  it('reads a JSON object', () => {
    expect(parseBody('{"zen":"x"}', 'json')).toEqual({ ok: true, payload: { zen: 'x' } });
  });

  it('reads the payload field of a form body', () => {
    const form = new URLSearchParams({
      payload: JSON.stringify({ ref: 'refs/heads/main', note: 'a+b & c' }),
    }).toString();
    expect(parseBody(form, 'form')).toEqual({ ok: true, payload: { ref: 'refs/heads/main', note: 'a+b & c' } });
  });

  it.each([
    ['', 'json', /empty/],
    ['   ', 'json', /empty/],
    ['not json', 'json', /not valid JSON/],
    ['[1,2]', 'json', /not a JSON object/],
    ['null', 'json', /not a JSON object/],
    ['"text"', 'json', /not a JSON object/],
    ['other=1', 'form', /no "payload" field/],
    ['payload=%7Bbroken', 'form', /not valid JSON/],
  ] as const)('refuses %j as %s', (text, format, problem) => {
    const result = parseBody(text, format);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toMatch(problem);
  });
});
