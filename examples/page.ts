import type * as http from 'http';

/** An HTTP request listener that serves `html` at `/` (and `/index.html`) and 404 for anything else. */
export function servePage(html: string): http.RequestListener {
  const length = Buffer.byteLength(html);
  return (req, res) => {
    if (req.method === 'GET' && (req.url === '/' || req.url === '/index.html')) {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': length });
      res.end(html);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  };
}
