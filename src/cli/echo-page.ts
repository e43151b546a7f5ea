/** The echo page: Open, Close and Send buttons and an output pane, as in gorilla's echo example. */
export function echoPage(wsUrlPath: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wsflow echo</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
  #output { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; font-family: ui-monospace, monospace; white-space: pre-wrap; }
  form { display: flex; gap: .5rem; margin-bottom: 1rem; }
  input[type=text] { flex: 1; }
</style>
</head>
<body>
<h1>wsflow echo</h1>
<p>Click <b>Open</b> to connect, type a message and click <b>Send</b>; the server echoes it back. <b>Close</b> ends the connection.</p>
<form id="controls">
  <button id="open" type="button">Open</button>
  <button id="close" type="button">Close</button>
  <input id="input" type="text" value="Hello, world!" aria-label="message">
  <button id="send" type="submit">Send</button>
</form>
<div id="output" aria-live="polite"></div>
<script>
(() => {
  const output = document.getElementById('output');
  const input = document.getElementById('input');
  let ws = null;
  const print = (line) => {
    const div = document.createElement('div');
    div.textContent = line;
    output.appendChild(div);
    output.scrollTop = output.scrollHeight;
  };
  document.getElementById('open').onclick = () => {
    if (ws) return;
    const url = new URL(${JSON.stringify(wsUrlPath)}, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(url);
    ws.onopen = () => print('OPEN');
    ws.onclose = (e) => { print('CLOSE ' + e.code + (e.reason ? ' ' + e.reason : '')); ws = null; };
    ws.onmessage = (e) => print('RESPONSE: ' + e.data);
    ws.onerror = () => print('ERROR');
  };
  document.getElementById('close').onclick = () => { if (ws) ws.close(1000, 'bye'); };
  document.getElementById('controls').onsubmit = (e) => {
    e.preventDefault();
    if (!ws || ws.readyState !== WebSocket.OPEN) { print('not connected: click Open first'); return; }
    print('SEND: ' + input.value);
    ws.send(input.value);
  };
})();
</script>
</body>
</html>
`;
}
