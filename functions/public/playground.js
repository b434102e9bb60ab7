// The playground: the same calls a client makes (presigned upload, create, poll, download), in plain JS.
const $ = (id) => document.getElementById(id);
const KEY_STORAGE = 'ocd.apiKey';

const form = $('edit-form');
const apiKeyInput = $('api-key');
let currentJobId = null;

// A key passed as #key=... (what `npm start` prints) is kept in this browser only and removed from the address bar.
const hashKey = new URLSearchParams(location.hash.slice(1)).get('key');
if (hashKey) {
  localStorage.setItem(KEY_STORAGE, hashKey);
  history.replaceState(null, '', location.pathname + location.search);
}
apiKeyInput.value = localStorage.getItem(KEY_STORAGE) ?? '';

// The sample toy clip (rendered by gpu-runner/toy-world; the embedded model was trained on that world) and its
// one-click example edits, from functions/public/samples/.
async function offerSamples() {
  const res = await fetch('/samples/examples.json');
  if (!res.ok) return;
  const examples = await res.json();
  $('samples').hidden = false;
  $('use-sample').addEventListener('click', async () => {
    const blob = await (await fetch(examples.clip)).blob();
    const files = new DataTransfer();
    files.items.add(new File([blob], 'toy-clip.mp4', { type: 'video/mp4' }));
    $('video').files = files.files;
    const [first] = examples.edits;
    $('source').value = first.sourcePrompt;
    $('target').value = first.targetPrompt;
  });
  for (const edit of examples.edits) {
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = edit.label;
    button.addEventListener('click', () => { $('source').value = edit.sourcePrompt; $('target').value = edit.targetPrompt; });
    $('sample-edits').append(button);
  }
}
offerSamples().catch(() => undefined);

// Each editor has its own presets and defaults (shared/edit-request.ts): switching keeps a value the user typed,
// and replaces one that is still the other editor's default.
const EDITOR_DEFAULTS = { fatezero: { frames: '8', guidance: '7.5' }, controlvideo: { frames: '15', guidance: '12.5' } };

function syncEditor() {
  const editor = $('editor').value;
  const other = editor === 'controlvideo' ? 'fatezero' : 'controlvideo';
  const presets = [...$('preset').options];
  for (const option of presets) option.hidden = option.dataset.editor !== editor;
  if ($('preset').selectedOptions[0]?.dataset.editor !== editor) $('preset').value = presets.find((o) => o.dataset.editor === editor).value;
  for (const field of ['frames', 'guidance']) {
    if ($(field).value === EDITOR_DEFAULTS[other][field]) $(field).value = EDITOR_DEFAULTS[editor][field];
  }
  $('control-fields').hidden = editor !== 'controlvideo';
  syncControl();
  // A message about the other editor's last request (e.g. "no ControlNet configured") no longer applies.
  $('error-text').hidden = true;
  $('error-text').textContent = '';
}

function syncControl() {
  const video = $('editor').value === 'controlvideo' && $('control-type').value === 'video';
  $('canny-fields').hidden = video;
  $('control-video-field').hidden = !video;
  $('control-video').required = video;
}

$('editor').addEventListener('change', syncEditor);
$('control-type').addEventListener('change', syncControl);
syncEditor();

async function api(path, init = {}) {
  const res = await fetch(path, {
    ...init,
    headers: { authorization: `Bearer ${apiKeyInput.value.trim()}`, ...(init.body ? { 'content-type': 'application/json' } : {}), ...init.headers },
  });
  const body = res.headers.get('content-type')?.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    const detail = typeof body === 'object' ? body.detail ?? body.title : body;
    throw new Error(`${res.status}: ${detail}`);
  }
  return body;
}

/** Presigned POST with upload progress (fetch has no upload progress, XHR does). */
function uploadFile(file, onProgress) {
  return api('/v1/uploads', {
    method: 'POST',
    body: JSON.stringify({ contentType: file.type || 'video/mp4', contentLength: file.size, filename: file.name }),
  }).then((upload) => new Promise((resolve, reject) => {
    const data = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) data.append(k, v);
    data.append('file', file);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', upload.url);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    // S3 answers a refused upload with an XML error: show its code and message.
    const s3Error = (text) => (/<Code>([^<]*)<\/Code>[\s\S]*?<Message>([^<]*)<\/Message>/.exec(text) ?? []).slice(1).join(': ');
    xhr.onload = () => (xhr.status < 300 ? resolve(upload.uploadId) : reject(new Error(`upload failed: HTTP ${xhr.status} ${s3Error(xhr.responseText)}`.trim())));
    xhr.onerror = () => reject(new Error('upload failed: network error'));
    xhr.send(data);
  }));
}

/** ControlVideo's `control` knob from the form; a control video is named by its upload. */
function controlKnob(controlId) {
  if (controlId) return { type: 'video', uploadId: controlId };
  const num = (id) => ($(id).value === '' ? undefined : Number($(id).value));
  return { type: 'canny', low: num('canny-low'), high: num('canny-high') };
}

/** The CreateEdit body: the uploads plus the knobs this form exposes (the rest keep the preset's defaults). */
function editRequest(inputId, maskId, controlId) {
  const num = (id) => ($(id).value === '' ? undefined : Number($(id).value));
  const words = (id) => $(id).value.trim().split(/\s+/).filter(Boolean);
  const [blendSource, blendTarget] = [words('blend-source'), words('blend-target')];
  const sampler = { steps: num('steps'), guidance: num('guidance') };
  return {
    input: { uploadId: inputId },
    ...(maskId ? { mask: { uploadId: maskId } } : {}),
    editor: $('editor').value,
    preset: $('preset').value,
    ...($('editor').value === 'controlvideo' ? { control: controlKnob(controlId) } : {}),
    sourcePrompt: $('source').value.trim(),
    targetPrompt: $('target').value.trim(),
    seed: num('seed'),
    frames: { count: num('frames') },
    sampler,
    ...(blendSource.length && blendTarget.length ? { fusion: { blendWords: { source: blendSource, target: blendTarget } } } : {}),
  };
}

function setStatus(text) { $('status-text').textContent = text; }
function showError(message) { const el = $('error-text'); el.textContent = message; el.hidden = false; }

function formatEta(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) return '';
  return seconds < 90 ? `about ${Math.round(seconds)} s left` : `about ${Math.round(seconds / 60)} min left`;
}

async function poll(jobId) {
  const started = Date.now();
  let firstRunning = null;
  for (;;) {
    const job = await api(`/v1/edits/${jobId}`);
    const p = job.progress ?? {};
    const fraction = p.fraction ?? 0;
    $('job-progress').value = fraction;
    if (job.state === 'queued') {
      setStatus(`Queued${job.queuePosition != null ? ` (position ${job.queuePosition})` : ''}…`);
    } else if (job.state === 'running') {
      firstRunning ??= { t: Date.now(), f: fraction };
      const rate = (fraction - firstRunning.f) / ((Date.now() - firstRunning.t) / 1000);
      const eta = rate > 0 ? formatEta((1 - fraction) / rate) : '';
      setStatus(`Running: ${p.stage ?? 'starting'}${p.steps ? ` step ${p.step}/${p.steps}` : ''}${eta ? ` · ${eta}` : ''}`);
    } else {
      $('cancel').hidden = true;
      if (job.state === 'succeeded') {
        $('job-progress').value = 1;
        setStatus(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s${job.run ? `: ${describeRun(job)}` : ''}.`);
      }
      return job;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** What ran, as the job record says (shared/job-run.ts describes it the same way for the CLI). */
function describeRun(job) {
  const run = job.run;
  const preset = job.options?.preset;
  const ran = run.ranAs === preset ? `ran as ${run.ranAs}` : `asked for ${preset}, ran as ${run.ranAs}`;
  const mask = run.mask
    ? `; mask ${(100 * run.mask.areaFraction).toFixed(1)}% of the frame from ${run.mask.source === 'video' ? 'the mask video' : `the attention of "${run.mask.words.join(' ')}" (${run.mask.source})`}`
    : '';
  return `${ran}${mask}${run.note ? ` (${run.note})` : ''}`;
}

function renderReport(report) {
  const tbody = $('report-table').querySelector('tbody');
  tbody.replaceChildren();
  const stages = Object.entries(report.stages ?? {}).filter(([, v]) => typeof v === 'number');
  const total = stages.reduce((s, [, v]) => s + v, 0) || 1;
  for (const [stage, seconds] of stages) {
    const tr = document.createElement('tr');
    const bar = document.createElement('span');
    bar.style.width = `${Math.max(2, (120 * seconds) / total)}px`;
    bar.setAttribute('aria-hidden', 'true');
    tr.innerHTML = `<th scope="row"></th><td></td><td class="bar"></td>`;
    tr.children[0].textContent = stage;
    tr.children[1].textContent = seconds.toFixed(2);
    tr.children[2].append(bar, ` ${((100 * seconds) / total).toFixed(0)}%`);
    tbody.append(tr);
  }
  const facts = $('report-facts');
  facts.replaceChildren();
  const add = (k, v) => { if (v == null) return; const dt = document.createElement('dt'); dt.textContent = k; const dd = document.createElement('dd'); dd.textContent = v; facts.append(dt, dd); };
  add('Editor', report.options?.editor ?? report.editor);
  add('Preset', report.preset);
  add('Ran as', report.ranAs && report.ranAs !== report.preset ? `${report.ranAs} (not ${report.preset}: see the note)` : report.ranAs);
  add('Frames', report.size ? `${report.frames} at ${report.size.width}×${report.size.height}` : report.frames);
  add('UNet calls', report.unetCalls);
  add('Token-steps', report.tokenSteps != null ? `${report.tokenSteps} (${(100 * report.tokenStepsRelative).toFixed(1)}% of fatezero's at the same step count)` : undefined);
  add('Attention store', report.attentionStore ? `${(report.attentionStore.bytes / 2 ** 20).toFixed(1)} MiB` : undefined);
  add('Peak memory', report.peakRssBytes != null ? `${(report.peakRssBytes / 2 ** 20).toFixed(0)} MiB` : undefined);
  const mask = report.mask;
  const maskSource = mask ? (mask.source === 'video' ? 'the mask video' : `the attention of "${(mask.words ?? []).join(' ')}" (${mask.source})`) : '';
  add('Mask', mask ? `${(100 * mask.areaFraction).toFixed(1)}% of the frame, from ${maskSource}` : 'none');
  if (report.note) add('Note', report.note);
  $('mask-note').textContent = maskNote(report);
}

/** Why the mask panel is all black or all white, when it is. */
function maskNote(report) {
  const mask = report.mask;
  if (!mask) return `The mask panel is black: no mask was used${report.ranAs && report.ranAs !== 'ocd' ? `, the edit ran as ${report.ranAs}` : ''}${report.note ? ` (${report.note})` : ''}.`;
  if (mask.areaFraction >= 0.999) return 'The mask panel is white: the mask covers the whole frame, so the whole frame was edited as the object.';
  if (mask.areaFraction <= 0.001) return 'The mask panel is black: the mask selected nothing, so no region was treated as the object.';
  return '';
}

/**
 * Name the preview's panels: FateZero's input | mask | output; ControlVideo's input | control | mask (when one was
 * used) | output.
 */
function setPanelLabels(job, report) {
  const control = job.options?.control;
  const labels = job.options?.editor === 'controlvideo'
    ? ['Input', control?.type === 'video' ? 'Control video' : 'Canny edges (control)', ...(report?.mask ? ['Mask (white = edited object)'] : []), 'Output']
    : ['Input', 'Mask (white = edited object)', 'Output'];
  $('panel-labels').replaceChildren(...labels.map((text) => Object.assign(document.createElement('span'), { textContent: text })));
  const names = labels.map((label) => label.replace(/ \(.*\)$/, '').toLowerCase());
  $('panel-caption').textContent = `${names.slice(0, -1).join(', ').replace(/^./, (c) => c.toUpperCase())} and ${names.at(-1)}, side by side.`;
}

async function showResult(job) {
  const out = job.outputs ?? {};
  setPanelLabels(job, undefined);
  $('result-panel').hidden = false;
  $('preview-video').src = out.preview?.url ?? '';
  $('output-video').src = out.video?.url ?? '';
  $('output-link').href = out.video?.url ?? '#';
  if (out.report?.url) {
    const report = await (await fetch(out.report.url)).json();
    renderReport(report);
    setPanelLabels(job, report);
  }
}

$('cancel').addEventListener('click', async () => {
  if (!currentJobId) return;
  try { await api(`/v1/edits/${currentJobId}/cancel`, { method: 'POST' }); setStatus('Cancel requested…'); } catch (e) { showError(e.message); }
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  localStorage.setItem(KEY_STORAGE, apiKeyInput.value.trim());
  const button = $('submit');
  button.disabled = true;
  // A new edit starts from a clean slate: nothing of the last one's status, result or report stays on screen.
  $('status-panel').hidden = false;
  $('result-panel').hidden = true;
  $('error-text').hidden = true;
  $('error-text').textContent = '';
  $('cancel').hidden = true;
  currentJobId = null;
  setStatus('');
  $('report-facts').replaceChildren();
  $('report-table').querySelector('tbody').replaceChildren();
  $('mask-note').textContent = '';
  setPanelLabels({ options: { editor: 'fatezero' } }, undefined);
  $('upload-progress').value = 0;
  $('job-progress').value = 0;
  try {
    const video = $('video').files[0];
    const mask = $('mask').files[0];
    const control = $('control-video').required ? $('control-video').files[0] : undefined;
    setStatus('Uploading…');
    // The upload bar covers every file: each takes an equal share.
    const files = [video, mask, control].filter(Boolean);
    let uploadedFiles = 0;
    const upload = async (file) => {
      const id = await uploadFile(file, (f) => { $('upload-progress').value = (uploadedFiles + f) / files.length; });
      uploadedFiles++;
      return id;
    };
    const inputId = await upload(video);
    const maskId = mask ? await upload(mask) : undefined;
    const controlId = control ? await upload(control) : undefined;
    $('upload-progress').value = 1;
    const job = await api('/v1/edits', { method: 'POST', body: JSON.stringify(editRequest(inputId, maskId, controlId)) });
    currentJobId = job.id;
    $('cancel').hidden = false;
    const done = await poll(job.id);
    if (done.state === 'succeeded') await showResult(done);
    else if (done.state === 'failed') showError(`Failed (${done.error?.code}): ${done.error?.message}`);
    else setStatus(`Edit ${done.state}.`);
  } catch (e) {
    showError(e.message);
  } finally {
    button.disabled = false;
  }
});
