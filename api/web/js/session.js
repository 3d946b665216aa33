// The user's token. A sign-in link carries it in the URL fragment (#token=…), which a
// browser never sends to a server, so it stays out of every access log; we move it to
// sessionStorage (gone when the tab closes) and clear the fragment from the address bar.

const KEY = "skillmind.token";

export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(KEY, token);
    history.replaceState(null, "", location.pathname + location.search);
  }
}

export const token = () => sessionStorage.getItem(KEY);
export const setToken = (value) => sessionStorage.setItem(KEY, value.trim());
export const clearToken = () => sessionStorage.removeItem(KEY);

// The token's claims, read only to label the page and to spot an expired token before
// asking the server; what the user may see is decided by the API alone.
export function claims(value = token()) {
  try {
    const part = value.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return null;
  }
}

export function expired(value = token()) {
  const c = claims(value);
  return !c || (typeof c.exp === "number" && c.exp * 1000 < Date.now());
}
