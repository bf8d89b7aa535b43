// The live connection: /ws with the session cookie, resuming from the last event id after
// a drop (?cursor=), a watchdog on the server's heartbeats, and a resync when events were
// lost. Views subscribe with on(type, fn); "*" receives everything, "status" the state.

const HEARTBEAT_GRACE_MS = 40_000;
const CLOSE_UNAUTHORIZED = 4401;

const handlers = new Map();
let socket = null;
let cursor = null;
let retryMs = 1000;
let watchdog = null;
let stopped = true;
let reconnectTimer = null;
export let status = "offline";

export function on(type, fn) {
  if (!handlers.has(type)) handlers.set(type, new Set());
  handlers.get(type).add(fn);
  return () => handlers.get(type).delete(fn);
}

function emit(type, payload) {
  for (const fn of handlers.get(type) || []) {
    try {
      fn(payload);
    } catch (err) {
      console.error("live handler failed", type, err);
    }
  }
}

function setStatus(next) {
  if (status === next) return;
  status = next;
  emit("status", next);
}

function armWatchdog() {
  clearTimeout(watchdog);
  watchdog = setTimeout(() => socket && socket.close(4000, "no heartbeat"), HEARTBEAT_GRACE_MS);
}

export function connect() {
  stopped = false;
  clearTimeout(reconnectTimer);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws${cursor !== null ? `?cursor=${cursor}` : ""}`;
  setStatus("connecting");
  const ws = new WebSocket(url);
  socket = ws;
  ws.onopen = () => armWatchdog();
  ws.onmessage = (message) => {
    armWatchdog();
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (event.type === "hello") {
      retryMs = 1000;
      if (cursor === null) cursor = event.cursor;
      setStatus("live");
      emit("hello", event);
      return;
    }
    if (event.type === "heartbeat") return;
    if (event.type === "resync") {
      if (event.cursor !== undefined) cursor = event.cursor;
      emit("resync", event);
      return;
    }
    if (typeof event.id === "number") cursor = Math.max(cursor ?? 0, event.id);
    emit(event.type, event);
    emit("*", event);
  };
  ws.onclose = (close) => {
    clearTimeout(watchdog);
    if (socket !== ws) return;
    socket = null;
    if (close.code === CLOSE_UNAUTHORIZED) {
      setStatus("offline");
      emit("unauthorized", close);
      return;
    }
    if (stopped) {
      setStatus("offline");
      return;
    }
    setStatus("reconnecting");
    reconnectTimer = setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15_000);
  };
}

export function disconnect() {
  stopped = true;
  clearTimeout(reconnectTimer);
  clearTimeout(watchdog);
  cursor = null;
  if (socket) socket.close(1000, "signed out");
  socket = null;
  setStatus("offline");
}
