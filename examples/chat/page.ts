/** The chat page: join a room under a name, send, see everyone's messages and which worker served you. */
export function chatPage(wsPath: string): string {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>wsflow chat</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem; max-width: 60rem; }
  #log { border: 1px solid #ccc; height: 20rem; overflow-y: auto; padding: .5rem; white-space: pre-wrap; }
  #log .notice { color: #666; font-style: italic; }
  form { display: flex; gap: .5rem; margin-bottom: 1rem; }
  #text { flex: 1; }
</style>
</head>
<body>
<h1>wsflow chat</h1>
<form id="join">
  <input id="room" value="lobby" aria-label="room" pattern="[A-Za-z0-9_-]{1,64}" required>
  <input id="name" value="guest" aria-label="name" maxlength="32" required>
  <button id="joinButton" type="submit">Join</button>
  <span id="status">not connected</span>
</form>
<form id="send">
  <input id="text" aria-label="message" maxlength="1000" autocomplete="off">
  <button id="sendButton" type="submit">Send</button>
</form>
<div id="log" aria-live="polite"></div>
<script>
(() => {
  const log = document.getElementById('log');
  const status = document.getElementById('status');
  const text = document.getElementById('text');
  let ws = null;
  const print = (line, cls) => {
    const div = document.createElement('div');
    div.textContent = line;
    if (cls) div.className = cls;
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  };
  document.getElementById('join').onsubmit = (e) => {
    e.preventDefault();
    if (ws) ws.close(1000, 'leaving');
    const url = new URL(${JSON.stringify(wsPath)}, location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('room', document.getElementById('room').value);
    url.searchParams.set('name', document.getElementById('name').value);
    const socket = new WebSocket(url);
    ws = socket;
    status.textContent = 'connecting';
    socket.onmessage = (e) => {
      const m = JSON.parse(e.data);
      if (m.type === 'welcome') {
        status.textContent = 'in #' + m.room + ' on worker ' + m.worker;
        document.body.dataset.worker = String(m.worker);
      } else if (m.type === 'message') {
        print(m.name + ' (worker ' + m.worker + '): ' + m.text);
      } else if (m.type === 'join' || m.type === 'leave') {
        print(m.name + (m.type === 'join' ? ' joined' : ' left') + ' (worker ' + m.worker + ')', 'notice');
      }
    };
    socket.onclose = (e) => {
      if (ws === socket) { ws = null; status.textContent = 'closed ' + e.code + (e.reason ? ' ' + e.reason : ''); }
    };
  };
  document.getElementById('send').onsubmit = (e) => {
    e.preventDefault();
    if (!ws || ws.readyState !== WebSocket.OPEN || text.value === '') return;
    ws.send(JSON.stringify({ text: text.value }));
    text.value = '';
  };
})();
</script>
</body>
</html>
`;
}
