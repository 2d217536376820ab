import { describe, expect, it } from 'vitest';
import { appManifest, githubEndpoints, installUrl, manifestFormAction } from '../../lambdas/github-setup/manifest.js';

describe('where the manifest flow lives', () => {
  it('derives github.com web and API from the default apiUrl', () => {
    const endpoints = githubEndpoints('https://api.github.com');
    expect(endpoints).toEqual({ web: 'https://github.com', api: 'https://api.github.com' });
    expect(manifestFormAction(endpoints, 'abc.def')).toBe('https://github.com/settings/apps/new?state=abc.def');
    expect(manifestFormAction(endpoints, 'abc.def', 'acme')).toBe(
      'https://github.com/organizations/acme/settings/apps/new?state=abc.def',
    );
  });

  it('derives GitHub Enterprise Server web (the host) and API (/api/v3) from its apiUrl', () => {
    for (const apiUrl of ['https://ghe.example.com/api/v3', 'https://ghe.example.com/api/v3/']) {
      const endpoints = githubEndpoints(apiUrl);
      expect(endpoints).toEqual({ web: 'https://ghe.example.com', api: 'https://ghe.example.com/api/v3' });
      expect(manifestFormAction(endpoints, 's', 'platform')).toBe(
        'https://ghe.example.com/organizations/platform/settings/apps/new?state=s',
      );
    }
    expect(githubEndpoints('https://ghe.example.com:8443/api/v3').web).toBe('https://ghe.example.com:8443');
    expect(installUrl('https://ghe.example.com/github-apps/tfgate-prod/')).toBe(
      'https://ghe.example.com/github-apps/tfgate-prod/installations/new',
    );
  });

  it('keeps the App private with tfgate’s URLs and a name GitHub accepts', () => {
    const manifest = appManifest({
      name: 'tfgate-AVeryLongStackNameThatGoesOnAndOn',
      webhookBaseUrl: 'https://hook.example/',
      approvalsBaseUrl: 'https://web.example',
      setupBaseUrl: 'https://setup.example/',
      listedPeople: ['@acme/platform'],
    });
    expect(manifest.name).toHaveLength(34);
    expect(manifest.public).toBe(false);
    expect(manifest.hook_attributes.url).toBe('https://hook.example/webhook');
    expect(manifest.redirect_url).toBe('https://setup.example/setup/callback');
    expect(manifest.callback_urls).toEqual(['https://web.example/auth/github/callback']);
    expect(manifest.default_permissions.members).toBe('read');
    expect(manifest.default_permissions.email_addresses).toBeUndefined();
  });
});

describe('the conversion call', () => {
  it('gives up on a GitHub that does not answer, naming no secret', async () => {
    const { startFakeManifestGitHub } = await import('./fake-manifest-github.js');
    const { convertManifestCode } = await import('../../lambdas/github-setup/conversion.js');
    const github = await startFakeManifestGitHub();
    try {
      github.hang.add('slowcode');
      const started = Date.now();
      // Long enough for the request to reach the fake on a loaded machine (300 ms was not, once): the one call
      // counted below is then certain.
      await expect(convertManifestCode({ apiUrl: github.apiUrl, code: 'slowcode', timeoutMs: 2_000 })).rejects.toThrow(
        /GitHub could not be reached/,
      );
      console.log(`conversion gave up after ${Date.now() - started} ms (limit 2000 ms)`);
      expect(github.calls).toHaveLength(1);
    } finally {
      await github.close();
    }
  });
});
