// Submit: every option of POST /v1/jobs/submit, checked in the page with the server's messages,
// and a batch script and input files sent with the job (multipart) when chosen.
import { ApiError, NotAuthenticatedError, getJson } from "../api";
import { ViewContext, isAbort, pageHeading } from "../app";
import { loadCluster } from "../cluster";
import { h, replaceChildren } from "../dom";
import { FieldError, FieldName, ServerLimits, SubmitFormValues, checkSubmit, submitFormData } from "../submit-form";

/** A problem to show; those naming a field also mark that field invalid. */
type Problem = FieldError | { message: string };

interface FieldSpec { name: Exclude<FieldName, "exclusive">; label: string; hint?: string; kind: "text" | "number" | "textarea"; min?: number; placeholder?: string }

const fieldSpecs: FieldSpec[] = [
  { name: "command", label: "Command", kind: "text", hint: "Split like a shell would, e.g. hostname or bash -c 'echo $HOSTNAME'. Input files are at {{tmpdir}}/NAME. Empty with a batch script.", placeholder: "hostname" },
  { name: "name", label: "Job name", kind: "text", hint: "Optional; defaults to the command." },
  { name: "num_tasks", label: "Tasks", kind: "number", min: 1, hint: "Total tasks (default 1)." },
  { name: "cores_per_task", label: "Cores per task", kind: "number", min: 1 },
  { name: "gpus_per_task", label: "GPUs per task", kind: "number", min: 1 },
  { name: "num_nodes", label: "Nodes", kind: "number", min: 1 },
  { name: "runtime", label: "Time limit", kind: "number", min: 0, hint: "Seconds; 0 or empty: none." },
  { name: "workdir", label: "Working directory", kind: "text", placeholder: "/tmp" },
  { name: "option_flags", label: "Shell options", kind: "text", hint: "key=value pairs separated by commas, without -o, e.g. cpu-affinity=off.", placeholder: "cpu-affinity=off" },
  { name: "envars", label: "Environment", kind: "textarea", hint: "One NAME=value per line. Jobs do not inherit the server's environment." },
];

/** The limits the server enforces, when it publishes them (/v1/cluster); otherwise the server checks. */
async function limitsFromCluster(signal: AbortSignal): Promise<ServerLimits> {
  try {
    const cluster = await loadCluster(signal);
    return { numberNodes: cluster.limits?.maxNodes, hasGpus: cluster.limits?.gpus };
  } catch (err) {
    if (isAbort(err) || err instanceof NotAuthenticatedError) throw err;
    return {}; // the server checks again; a summary failure must not block submitting
  }
}

export async function submitView(ctx: ViewContext): Promise<void> {
  ctx.setTitle("Submit a job");
  const limits = await limitsFromCluster(ctx.signal);
  const inputs = new Map<FieldName, HTMLInputElement | HTMLTextAreaElement>();
  const errorBox = h("div", { class: "form-errors", role: "alert", tabindex: "-1", hidden: true });
  const submitButton = h("button", { type: "submit", class: "button button-primary" }, "Submit job");

  const fields = fieldSpecs.map((spec) => {
    const id = `f-${spec.name}`;
    const hintId = spec.hint ? `${id}-hint` : undefined;
    const common = { id, name: spec.name, "aria-describedby": hintId, placeholder: spec.placeholder, autocomplete: "off", spellcheck: "false" };
    const input =
      spec.kind === "textarea"
        ? h("textarea", { ...common, rows: 3 })
        : h("input", { ...common, type: spec.kind, min: spec.min, step: spec.kind === "number" ? 1 : undefined, inputmode: spec.kind === "number" ? "numeric" : undefined, required: spec.name === "command" });
    inputs.set(spec.name, input);
    return h(
      "div",
      { class: `field field-${spec.name}` },
      h("label", { for: id }, spec.label, spec.name === "command" ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null),
      input,
      spec.hint ? h("p", { class: "hint", id: hintId }, spec.hint) : null,
    );
  });
  const scriptInput = h("input", { id: "f-script", name: "script", type: "file", "aria-describedby": "f-script-hint" });
  const filesInput = h("input", { id: "f-files", name: "files", type: "file", multiple: true, "aria-describedby": "f-files-hint" });
  const chosenScript = () => scriptInput.files?.[0] ?? null;
  // With a script the command stays empty: say so on the field itself.
  scriptInput.addEventListener("change", () => inputs.get("command")!.toggleAttribute("required", !chosenScript()));
  const fileFields = h(
    "fieldset",
    { class: "files-fields" },
    h("legend", null, "Script and input files"),
    h(
      "div",
      { class: "field" },
      h("label", { for: "f-script" }, "Batch script"),
      scriptInput,
      h("p", { class: "hint", id: "f-script-hint" }, "Optional. A script starting with #!, run like flux batch: one Flux instance over the job's nodes, so it may call flux run. The job is named after it."),
    ),
    h(
      "div",
      { class: "field" },
      h("label", { for: "f-files" }, "Input files"),
      filesInput,
      h("p", { class: "hint", id: "f-files-hint" }, "Optional. Every node of the job finds them as {{tmpdir}}/NAME before the tasks start."),
    ),
  );
  const exclusive = h("input", { id: "f-exclusive", name: "exclusive", type: "checkbox" });
  inputs.set("exclusive", exclusive);
  if (limits.hasGpus === false) {
    const gpus = inputs.get("gpus_per_task")!;
    gpus.setAttribute("placeholder", "no GPUs on this cluster");
  }

  function values(): SubmitFormValues {
    const v = (name: FieldName) => {
      const input = inputs.get(name)!;
      // A number input holding text reports "": send the text so it is named as invalid.
      return input instanceof HTMLInputElement && input.type === "number" && input.validity.badInput ? "not a number" : input.value;
    };
    return {
      command: v("command"), name: v("name"), num_tasks: v("num_tasks"), cores_per_task: v("cores_per_task"),
      gpus_per_task: v("gpus_per_task"), num_nodes: v("num_nodes"), runtime: v("runtime"), workdir: v("workdir"),
      option_flags: v("option_flags"), envars: v("envars"), exclusive: exclusive.checked, script: chosenScript() !== null,
    };
  }

  function showErrors(title: string, items: Problem[]): void {
    for (const input of inputs.values()) input.removeAttribute("aria-invalid");
    for (const e of items) if ("field" in e) inputs.get(e.field)?.setAttribute("aria-invalid", "true");
    replaceChildren(
      errorBox,
      h("h2", null, title),
      h("ul", null, ...items.map((e) => h("li", null, e.message))),
    );
    errorBox.hidden = false;
    const firstField = items.find((e): e is FieldError => "field" in e);
    (firstField ? inputs.get(firstField.field)! : errorBox).focus();
  }

  const form = h(
    "form",
    { class: "card form submit-form", novalidate: true },
    errorBox,
    h("div", { class: "grid" }, ...fields),
    fileFields,
    h("div", { class: "field" }, h("label", { class: "check", for: "f-exclusive" }, exclusive, " Exclusive: give the job whole nodes")),
    h("div", { class: "actions" }, submitButton, h("a", { href: "ui/jobs", class: "button button-quiet" }, "Cancel")),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const { body, errors } = checkSubmit(values(), limits);
    if (errors.length) return showErrors(errors.length === 1 ? "Please fix this problem" : `Please fix these ${errors.length} problems`, errors);
    errorBox.hidden = true;
    submitButton.disabled = true;
    submitButton.textContent = "Submitting…";
    try {
      const script = chosenScript();
      const files = Array.from(filesInput.files ?? []);
      if (script && body.name === undefined) body.name = script.name;
      const payload = script || files.length ? { body: submitFormData(body, script, files) } : { json: body };
      const answer = await getJson<{ id?: unknown; Message?: string }>("v1/jobs/submit", { method: "POST", ...payload, signal: ctx.signal });
      if (answer?.id === undefined) throw new ApiError(200, answer?.Message ?? "The server did not return a job id.", answer);
      ctx.navigate(`ui/jobs/${encodeURIComponent(String(answer.id))}`);
    } catch (err) {
      if (isAbort(err) || ctx.signal.aborted) return;
      showErrors("The server did not accept this job", serverErrors(err));
    } finally {
      submitButton.disabled = false;
      submitButton.textContent = "Submit job";
    }
  });

  replaceChildren(ctx.main, pageHeading("Submit a job"), form);
  inputs.get("command")!.focus();
}

/** The server's messages, attached to fields where the answer names them (422 `loc`). */
function serverErrors(err: unknown): Problem[] {
  if (!(err instanceof ApiError)) return [{ message: err instanceof Error ? err.message : String(err) }];
  const body = err.body as { detail?: unknown; Errors?: unknown } | null;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((d: { loc?: unknown[]; msg?: unknown }) => {
      const field = String(d.loc?.[1] ?? "") as FieldName;
      return fieldSpecs.some((s) => s.name === field) ? { field, message: `${field}: ${String(d.msg)}` } : { message: String(d.msg) };
    });
  }
  return [{ message: err.message }];
}
