// The HSL extension: starts `hsl lsp` (stdio) for documents of language `hsl` and hands
// everything else to the server. Halon's own extension may contribute the same language
// id and its TextMate grammar; this one adds no grammar (the server's semantic tokens
// colour the code where no grammar is installed).
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  TransportKind,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

function serverOptions(): ServerOptions {
  const config = vscode.workspace.getConfiguration("hsl");
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? "";
  const command = config.get<string>("path", "hsl").replace("${workspaceFolder}", folder);
  const args = ["lsp", ...config.get<string[]>("args", [])];
  return { command, args, transport: TransportKind.stdio };
}

async function start(): Promise<void> {
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "hsl" },
      { scheme: "untitled", language: "hsl" },
    ],
    synchronize: {
      // the files that change what the server knows beside the open buffers
      fileEvents: vscode.workspace.createFileSystemWatcher(
        "**/{*.hsl,.hslcheck.toml,pyproject.toml,*.yaml,*.yml}",
      ),
    },
  };
  client = new LanguageClient("hsl", "HSL", serverOptions(), clientOptions);
  await client.start();
}

async function restart(): Promise<void> {
  if (client) {
    await client.stop();
    client = undefined;
  }
  await start();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("hsl.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("hsl.path") || e.affectsConfiguration("hsl.args")) {
        await restart();
      }
    }),
  );
  try {
    await start();
  } catch (err) {
    const command = vscode.workspace.getConfiguration("hsl").get<string>("path", "hsl");
    void vscode.window.showErrorMessage(
      `HSL: could not start "${command} lsp" (${String(err)}); set hsl.path to the hsl command.`,
    );
  }
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
  }
}
