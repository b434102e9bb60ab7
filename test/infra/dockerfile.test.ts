import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MODEL_CACHE_DIR, WORKER_UID } from '../../infra/lib/gpu-workers.ts';
import { REPO_ROOT } from './support/synth.ts';

interface Instruction {
  keyword: string;
  args: string;
}

/** Splits a Dockerfile into instructions: joins `\` continuations, drops comments and blank lines. */
function parseDockerfile(text: string): Instruction[] {
  const logical = text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return logical
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    });
}

const dockerfile = readFileSync(join(REPO_ROOT, 'gpu-runner/Dockerfile'), 'utf8');
const instructions = parseDockerfile(dockerfile);
const args = Object.fromEntries(
  instructions.filter((i) => i.keyword === 'ARG').map((i) => i.args.split('=') as [string, string]),
);
/** Instructions of the last stage (the image that runs). */
const finalStage = instructions.slice(instructions.map((i) => i.keyword).lastIndexOf('FROM'));
/** Instructions of the stage declared `FROM ... AS <name>`, up to the next FROM. */
const stageNamed = (name: string): Instruction[] => {
  const start = instructions.findIndex((i) => i.keyword === 'FROM' && new RegExp(`\\sAS\\s+${name}$`, 'i').test(i.args));
  expect(start, `stage ${name}`).toBeGreaterThanOrEqual(0);
  const next = instructions.findIndex((i, n) => n > start && i.keyword === 'FROM');
  return instructions.slice(start, next < 0 ? undefined : next);
};
const of = (keyword: string, stage = finalStage) => stage.filter((i) => i.keyword === keyword);

describe('gpu-runner/Dockerfile', () => {
  it('runs on a CUDA 12 + cuDNN runtime base and fails the build unless cuDNN 9 is present', () => {
    expect(args.CUDA_IMAGE).toMatch(/^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$/);
    expect(of('FROM')[0].args).toMatch(/^\$\{CUDA_IMAGE\}/);
    expect(of('RUN').map((r) => r.args).join('\n')).toContain("grep -q 'libcudnn.so.9'");
  });

  it('carries Node.js 22 and ffmpeg', () => {
    expect(args.NODE_IMAGE).toMatch(/^node:22[.-]/);
    expect(of('COPY').map((c) => c.args)).toContain('--from=node /usr/local/bin/node /usr/local/bin/node');
    expect(of('RUN').map((r) => r.args).join('\n')).toMatch(/apt-get install .*\bffmpeg\b/);
  });

  it('installs onnxruntime-node with its CUDA 12 provider at build time and checks the library landed', () => {
    const depsStage = stageNamed('deps');
    expect(of('ENV', depsStage).map((e) => e.args)).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12');
    const install = of('RUN', depsStage).map((r) => r.args).join('\n');
    expect(install).toMatch(/npm ci --omit=dev/);
    expect(install).toContain('--ignore-scripts=false'); // the project .npmrc turns install scripts off
    expect(install).toContain('libonnxruntime_providers_cuda.so');
  });

  it('runs as a non-root user whose uid matches the instance user data', () => {
    const users = of('USER');
    expect(users).toHaveLength(1);
    expect(users[0].args).not.toMatch(/^(root|0)(:|$)/);
    expect(of('RUN').map((r) => r.args).join('\n')).toContain(`useradd --uid ${WORKER_UID} `);
    // USER comes after every RUN: nothing runs as root once the user is set, and the process never does.
    const lastRun = finalStage.map((i) => i.keyword).lastIndexOf('RUN');
    expect(finalStage.findIndex((i) => i.keyword === 'USER')).toBeGreaterThan(lastRun);
  });

  it('keeps the model cache in a volume and sets the runner configuration the stack expects', () => {
    expect(of('VOLUME').map((v) => v.args)).toEqual([`["${MODEL_CACHE_DIR}"]`]);
    const env = of('ENV').map((e) => e.args).join(' ');
    expect(env).toContain('OCD_PROVIDER=cuda');
    expect(env).toContain(`OCD_MODEL_CACHE_DIR=${MODEL_CACHE_DIR}`);
    expect(env).toContain('OCD_HEALTH_PORT=8080');
  });

  it('has a health check against the runner\'s /healthz and starts the worker entry', () => {
    const [healthcheck] = of('HEALTHCHECK');
    expect(healthcheck.args).toMatch(/--start-period=\d+s/);
    expect(healthcheck.args).toContain('/healthz');
    const [cmd] = of('CMD');
    const argv = JSON.parse(cmd.args) as string[];
    expect(argv.slice(0, 3)).toEqual(['node', '--import', 'tsx']);
    expect(argv.at(-1)).toBe('gpu-runner/worker/main.ts');
  });

  it('holds no secrets: no credential-like ARG/ENV values, no copied env or credential files', () => {
    for (const { keyword, args: text } of instructions.filter((i) => i.keyword === 'ENV' || i.keyword === 'ARG')) {
      expect(text, `${keyword} ${text}`).not.toMatch(/(SECRET|PASSWORD|TOKEN|ACCESS_KEY|API_KEY)\w*=/i);
    }
    expect(dockerfile).not.toMatch(/AKIA[0-9A-Z]{16}|ocd_[A-Za-z0-9_-]{43}|whsec_/);
    for (const { args: text } of instructions.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')) {
      expect(text).not.toMatch(/\.env\b|credentials|\.aws|id_rsa/);
    }
  });
});

describe('.dockerignore (the build context is the repository root)', () => {
  const lines = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('excludes everything, then lets in only what the image copies', () => {
    expect(lines[0]).toBe('*');
    const included = lines.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    expect(included.sort()).toEqual(['.npmrc', 'gpu-runner', 'package-lock.json', 'package.json', 'shared', 'tsconfig.json']);
    expect(lines).toContain('**/node_modules');
    for (const path of included) expect(existsSync(join(REPO_ROOT, path)), path).toBe(true);
  });
});
