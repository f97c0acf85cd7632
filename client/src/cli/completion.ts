/**
 * Shell completion from the commander tree itself, so it never drifts from the commands: the
 * scripts hand the command line to `flux-restful __complete`, which answers one candidate per
 * line (bash's `complete -C` protocol: COMP_LINE and COMP_POINT in the environment).
 */
import type { Command, Option } from "commander";
import { STATE_FILTERS } from "./select";

const SHELLS = ["bash", "zsh"];
/** Commands whose first operand starts what the job runs: local file names complete from there. */
const JOB_COMMANDS = ["run", "submit", "batch"];

const BASH = `# flux-restful completion for bash: add to ~/.bashrc
#   source <(flux-restful completion bash)
complete -o default -C 'flux-restful __complete' flux-restful
`;

// zsh hands over the words up to the cursor; no answer means files (a job's command, a script, --file).
const ZSH = `#compdef flux-restful
# flux-restful completion for zsh: add to ~/.zshrc (after compinit)
#   source <(flux-restful completion zsh)
_flux_restful() {
  local line="\${(j: :)words[1,CURRENT]}"
  local -a candidates
  candidates=(\${(f)"$(COMP_LINE="$line" COMP_POINT=\${#line} flux-restful __complete 2>/dev/null)"})
  if (( \${#candidates} )); then compadd -- $candidates; else _files; fi
}
compdef _flux_restful flux-restful
`;

export function completionScript(shell: "bash" | "zsh"): string {
  return shell === "bash" ? BASH : ZSH;
}

function findOption(commands: Command[], word: string): Option | undefined {
  const name = word.split("=")[0];
  for (const command of commands) {
    const option = command.options.find((o) => o.long === name || o.short === name);
    if (option) return option;
  }
  return undefined;
}

const takesValue = (option: Option | undefined) => Boolean(option && (option.required || option.optional) && !option.negate);

/** The candidates for the last word of `line` (which may be empty: after a space). */
export function completions(program: Command, line: string, profileNames: () => string[]): string[] {
  const words = line.split(/\s+/);
  const current = words.pop() ?? "";
  let command = program;
  for (let i = 1; i < words.length; i++) {
    const word = words[i];
    if (word === "--") return []; // the job's own command line
    if (word.startsWith("-")) {
      if (!word.includes("=") && takesValue(findOption([command, program], word))) i++;
      continue;
    }
    if (!command.commands.length) {
      if (JOB_COMMANDS.includes(command.name())) return []; // the job's command (or the batch script) began
      continue; // an operand such as a job id
    }
    const sub = command.commands.find((c) => c.name() === word);
    if (!sub) return [];
    command = sub;
  }
  const previous = words.length > 1 ? words[words.length - 1] : "";
  const valueOf = previous.startsWith("-") && !previous.includes("=") ? findOption([command, program], previous) : undefined;
  const help = program.createHelp();
  let candidates: string[];
  if (takesValue(valueOf)) {
    if (valueOf!.long === "--profile") candidates = profileNames();
    else if (valueOf!.long === "--state") candidates = STATE_FILTERS;
    else return [];
  } else if (current.startsWith("-")) {
    // options after a command are the command's own (positional options): the connection options are among them
    candidates = help.visibleOptions(command).flatMap((o) => [o.long, o.short]).filter((n): n is string => Boolean(n));
  } else if (command.commands.length) {
    candidates = help.visibleCommands(command).map((c) => c.name());
  } else if (command.name() === "completion") {
    candidates = SHELLS;
  } else if (command.name() === "logout" || command.name() === "login") {
    candidates = profileNames();
  } else {
    return [];
  }
  return candidates.filter((c) => c.startsWith(current)).sort();
}
