/**
 * What Amazon S3 checks on a browser-style POST upload (a presigned POST), as a pure function: the SigV4
 * signature of the policy, its expiry, every condition (exact match, `starts-with`, `content-length-range`) and that
 * no form field goes unnamed by the policy. s3rver stores such uploads without any of these checks, so the local
 * stack runs this in front of it (s3-front.ts) and uploads meet the same rules as in AWS.
 *
 * Follows the S3 documentation of POST policies ("Creating a POST policy", "Authenticating requests in
 * browser-based uploads using POST"); the error codes and statuses are the ones S3 answers with.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** An S3 error answer: HTTP status, S3 error code and message. */
export interface S3Refusal {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

export interface PostUpload {
  /** The bucket named by the URL. */
  readonly bucket: string;
  /** The form's text fields, in order; names as sent. */
  readonly fields: readonly (readonly [string, string])[];
  /** Number of file parts, and the first one's size in bytes. */
  readonly files: number;
  readonly fileBytes: number;
}

export interface PolicyCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

type Condition = Record<string, unknown> | unknown[];

const refuse = (status: number, code: string, message: string): S3Refusal => ({ status, code, message });
const policyFailed = (condition: unknown) => refuse(403, 'AccessDenied', `Invalid according to Policy: Policy Condition failed: ${JSON.stringify(condition)}`);

/** Fields S3 never expects a condition for. */
const UNCONDITIONED = new Set(['policy', 'x-amz-signature', 'file']);

/**
 * Checks one POST upload the way S3 does.
 * @returns null when S3 would store the object, else the refusal S3 answers with
 */
export function checkPostUpload(upload: PostUpload, credentials: PolicyCredentials, now: Date = new Date()): S3Refusal | null {
  const fields = new Map<string, string>();
  for (const [name, value] of upload.fields) if (!fields.has(name.toLowerCase())) fields.set(name.toLowerCase(), value);
  const policyText = fields.get('policy');
  // Without a policy the upload is anonymous, and the bucket is not public.
  if (policyText === undefined) return refuse(403, 'AccessDenied', 'Access Denied');

  const signatureProblem = checkSignature(fields, policyText, credentials);
  if (signatureProblem) return signatureProblem;

  let policy: { expiration?: unknown; conditions?: unknown };
  try {
    policy = JSON.parse(Buffer.from(policyText, 'base64').toString('utf8')) as typeof policy;
  } catch {
    return refuse(400, 'InvalidPolicyDocument', 'Invalid Policy: Invalid JSON.');
  }
  const expires = typeof policy.expiration === 'string' ? Date.parse(policy.expiration) : NaN;
  if (!Number.isFinite(expires)) return refuse(400, 'InvalidPolicyDocument', 'Invalid Policy: Policy missing expiration.');
  if (!Array.isArray(policy.conditions)) return refuse(400, 'InvalidPolicyDocument', 'Invalid Policy: Policy missing conditions.');
  if (now.getTime() > expires) return refuse(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');

  if (!fields.has('key')) return refuse(400, 'InvalidArgument', "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.");
  if (upload.files !== 1) return refuse(400, 'InvalidArgument', 'POST requires exactly one file upload per request.');

  const valueOf = (name: string) => (name === 'bucket' ? upload.bucket : (fields.get(name) ?? ''));
  const named = new Set<string>();
  for (const condition of policy.conditions as Condition[]) {
    const problem = checkCondition(condition, valueOf, upload.fileBytes, named);
    if (problem) return problem;
  }
  const extra = [...fields.keys()].filter((name) => !UNCONDITIONED.has(name) && !name.startsWith('x-ignore-') && !named.has(name));
  if (extra.length > 0) return refuse(403, 'AccessDenied', `Invalid according to Policy: Extra input fields: ${extra.join(', ')}`);
  return null;
}

/** The policy's SigV4 signature: HMAC-SHA256 of the base64 policy with the key derived for the credential's scope. */
function checkSignature(fields: Map<string, string>, policyText: string, credentials: PolicyCredentials): S3Refusal | null {
  const algorithm = fields.get('x-amz-algorithm');
  const credential = fields.get('x-amz-credential');
  const signature = fields.get('x-amz-signature');
  if (algorithm !== 'AWS4-HMAC-SHA256' || !credential || !signature || !fields.has('x-amz-date')) {
    return refuse(400, 'InvalidRequest', 'POST requires the fields x-amz-algorithm (AWS4-HMAC-SHA256), x-amz-credential, x-amz-date and x-amz-signature.');
  }
  const [accessKeyId, date, region, service, terminator, ...rest] = credential.split('/');
  if (rest.length > 0 || !date || !region || service !== 's3' || terminator !== 'aws4_request') {
    return refuse(400, 'AuthorizationQueryParametersError', `Error parsing the X-Amz-Credential parameter; the credential is mal-formed: ${credential}`);
  }
  if (accessKeyId !== credentials.accessKeyId) return refuse(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  const expected = policySignature(policyText, credentials.secretAccessKey, date, region);
  const given = Buffer.from(signature.toLowerCase(), 'utf8');
  if (given.length !== expected.length || !timingSafeEqual(given, Buffer.from(expected, 'utf8'))) {
    return refuse(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
  }
  return null;
}

/** SigV4 over a POST policy: the signing key for (date, region, s3), then HMAC of the base64 policy, hex. */
export function policySignature(policyBase64: string, secretAccessKey: string, date: string, region: string): string {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${secretAccessKey}`, date), region), 's3'), 'aws4_request');
  return createHmac('sha256', signingKey).update(policyBase64, 'utf8').digest('hex');
}

function checkCondition(condition: Condition, valueOf: (name: string) => string, fileBytes: number, named: Set<string>): S3Refusal | null {
  if (!Array.isArray(condition)) {
    // { "field": "value" }: an exact match
    for (const [name, value] of Object.entries(condition)) {
      named.add(name.toLowerCase());
      if (valueOf(name.toLowerCase()) !== String(value)) return policyFailed(condition);
    }
    return null;
  }
  const [operator, subject, value] = condition as [unknown, unknown, unknown];
  if (String(operator).toLowerCase() === 'content-length-range') {
    const [min, max] = [Number(subject), Number(value)];
    if (fileBytes < min) return refuse(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size');
    if (fileBytes > max) return refuse(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
    return null;
  }
  if (typeof subject !== 'string' || !subject.startsWith('$')) {
    return refuse(400, 'InvalidPolicyDocument', `Invalid Policy: Invalid Condition: ${JSON.stringify(condition)}`);
  }
  const name = subject.slice(1).toLowerCase();
  named.add(name);
  const actual = valueOf(name);
  switch (String(operator).toLowerCase()) {
    case 'eq':
      return actual === String(value) ? null : policyFailed(condition);
    case 'starts-with':
      return actual.startsWith(String(value)) ? null : policyFailed(condition);
    default:
      return refuse(400, 'InvalidPolicyDocument', `Invalid Policy: Invalid Condition: ${JSON.stringify(condition)}`);
  }
}

/** The XML body S3 answers an error with. */
export function s3ErrorXml(refusal: S3Refusal, requestId: string): string {
  const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${refusal.code}</Code><Message>${escape(refusal.message)}</Message><RequestId>${requestId}</RequestId></Error>`;
}
