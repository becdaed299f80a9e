/**
 * The page the inspector server serves over HTTP: it embeds the Stately inspector UI in an iframe,
 * connects back to the server's WebSocket, and posts each message to the UI once the UI says it is
 * listening (`@statelyai.connected`, the handshake of `@statelyai/inspect`'s browser receiver).
 */
import { InspectorError } from "./errors.js";

/** The Stately inspector UI the page embeds unless told otherwise. */
export const DEFAULT_INSPECTOR_UI = "https://stately.ai/inspect";

/**
 * Checks the UI address: an absolute http(s) URL.
 *
 * @param ui - the address.
 * @returns the parsed URL.
 * @throws InspectorError (`invalid_option`) for anything else.
 */
export function parseUiUrl(ui: string): URL {
  let url: URL;
  try {
    url = new URL(ui);
  } catch (error) {
    throw new InspectorError(
      "invalid_option",
      `the inspector UI must be an absolute URL, got ${JSON.stringify(ui)}`,
      {
        cause: error,
      },
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new InspectorError(
      "invalid_option",
      `the inspector UI must be an http(s) URL, got ${JSON.stringify(ui)}`,
    );
  return url;
}

/**
 * The bridge page's HTML.
 *
 * @param ui - the UI's URL (from {@link parseUiUrl}).
 * @returns the HTML document.
 */
export function bridgePage(ui: URL): string {
  // JSON.stringify makes a safe JS string; `<` is escaped so no `</script>` can close the script early
  const js = (value: string) => JSON.stringify(value).replaceAll("<", "\\u003c");
  const attribute = ui.href.replaceAll("&", "&amp;").replaceAll('"', "&quot;").replaceAll("<", "&lt;");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Normandy inspector</title>
<style>html, body, iframe { margin: 0; border: 0; width: 100%; height: 100%; display: block; }</style>
</head>
<body>
<iframe id="ui" src="${attribute}" title="Stately inspector"></iframe>
<script>
  const frame = document.getElementById("ui");
  const uiOrigin = new URL(${js(ui.href)}).origin;
  const pending = [];
  let ready = false;
  const deliver = (message) => frame.contentWindow.postMessage(message, uiOrigin);
  window.addEventListener("message", (e) => {
    if (e.source !== frame.contentWindow || !e.data || e.data.type !== "@statelyai.connected") return;
    ready = true;
    for (const message of pending.splice(0)) deliver(message);
  });
  const socket = new WebSocket("ws://" + location.host + "/");
  socket.onmessage = (e) => {
    const message = JSON.parse(e.data);
    if (ready) deliver(message);
    else pending.push(message);
  };
  socket.onclose = () => { document.title = "Normandy inspector (disconnected)"; };
</script>
</body>
</html>
`;
}
