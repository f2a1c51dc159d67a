// The qgl extension: starts `qglc lsp` (the language server) over stdio for .qgl files.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

let client;

function start() {
  const config = vscode.workspace.getConfiguration("qgl");
  const command = config.get("server.path", "qglc");
  const args = config.get("server.args", ["lsp"]);
  const serverOptions = {
    run: { command, args, transport: TransportKind.stdio },
    debug: { command, args, transport: TransportKind.stdio },
  };
  const clientOptions = {
    documentSelector: [{ scheme: "file", language: "qgl" }, { scheme: "untitled", language: "qgl" }],
    synchronize: {
      // data files and imported models change what a model means
      fileEvents: vscode.workspace.createFileSystemWatcher("**/*.{qgl,csv}"),
    },
  };
  client = new LanguageClient("qgl", "qgl", serverOptions, clientOptions);
  client.start().catch((err) => {
    vscode.window.showErrorMessage(
      `qgl: could not start '${command} ${args.join(" ")}' (${err.message || err}). ` +
        "Install qgridlang (pip install qgridlang) or set qgl.server.path."
    );
  });
}

function activate(context) {
  start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
  // another qglc (or other arguments): restart the server
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (event.affectsConfiguration("qgl.server")) {
        if (client) {
          await client.stop();
        }
        start();
      }
    })
  );
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
