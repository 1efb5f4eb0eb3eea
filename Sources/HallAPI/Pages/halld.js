// halld.js: the browser bridge's client, an ES module with no build step.
//
//   import { Halld } from "/bridge/halld.js?token=TOKEN";
//   const halld = new Halld({ token: "TOKEN" });          // same origin: the bridge's pages
//   const halld = new Halld({ base: "http://127.0.0.1:8471", token: "TOKEN" });   // another origin
//   const ticket = await halld.call("POST", "/v1/tickets", { service: "A" });
//   const stop = halld.follow({ types: ["ticket", "window"], onEvent: (e) => … });
//
// call() answers the body, or throws an Error with .status and .body (the API's
// {"error": {...}}). follow() keeps a WebSocket to /v1/ws open and, when it drops,
// reconnects with backoff from the last sequence it saw: no event is lost or repeated.

export class Halld {
  constructor({ base = "", token } = {}) {
    this.base = base.replace(/\/$/, "");
    this.token = token;
  }

  async call(method, path, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(this.base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const value = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = new Error(value?.error?.message ?? `${method} ${path}: ${response.status}`);
      error.status = response.status;
      error.body = value;
      throw error;
    }
    return value;
  }

  follow({ types = [], since, onEvent, onState = () => {} } = {}) {
    let last = since;
    let socket = null;
    let stopped = false;
    let wait = 250;
    const open = async () => {
      if (stopped) return;
      if (last === undefined) {
        // Where the log is now: a drop before the first event loses nothing either.
        try {
          last = (await this.call("GET", "/v1/info")).lastEventSeq;
        } catch {
          setTimeout(open, wait);
          wait = Math.min(wait * 2, 5000);
          return;
        }
      }
      const origin = this.base || location.origin;
      const url = new URL("/v1/ws", origin.replace(/^http/, "ws"));
      url.searchParams.set("token", this.token);
      if (types.length) url.searchParams.set("types", types.join(","));
      if (last !== undefined) url.searchParams.set("since", String(last));
      socket = new WebSocket(url);
      socket.onopen = () => {
        wait = 250;
        onState("open");
      };
      socket.onmessage = (message) => {
        const event = JSON.parse(message.data);
        if (typeof event.seq === "number") {
          if (last !== undefined && event.seq <= last) return;
          last = event.seq;
        }
        onEvent(event);
      };
      socket.onclose = () => {
        onState("closed");
        if (stopped) return;
        setTimeout(open, wait);
        wait = Math.min(wait * 2, 5000);
      };
    };
    open();
    return () => {
      stopped = true;
      socket?.close();
    };
  }
}

/// The token of the page: ?token= in its address.
export function pageToken() {
  return new URLSearchParams(location.search).get("token") ?? "";
}
