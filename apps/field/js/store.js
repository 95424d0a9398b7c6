// The device's storage: one IndexedDB database. `items` holds everything the facilitator recorded
// (meetings, progress, evaluations) with its sync state; `meta` holds the session, the device id,
// the last worklist and the sync log. Nothing leaves `items` until the server has it.
const DB_NAME = "pantau-lapangan";
const DB_VERSION = 1;
let opened = null;

function promised(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export function openStore() {
  if (!opened) {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    // Migrations only ever add stores or indexes: an app update must never drop waiting items.
    request.onupgradeneeded = () => {
      const db = request.result;
      if (!db.objectStoreNames.contains("items")) {
        const items = db.createObjectStore("items", { keyPath: "id" });
        items.createIndex("state", "state");
      }
      if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta");
    };
    opened = promised(request);
  }
  return opened;
}

async function tx(stores, mode, work) {
  const db = await openStore();
  const transaction = db.transaction(stores, mode);
  const result = await work(transaction);
  await new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
  return result;
}

export const getMeta = (key) => tx("meta", "readonly", (t) => promised(t.objectStore("meta").get(key)));
export const setMeta = (key, value) => tx("meta", "readwrite", (t) => promised(t.objectStore("meta").put(value, key)));
export const delMeta = (key) => tx("meta", "readwrite", (t) => promised(t.objectStore("meta").delete(key)));
export const getItem = (id) => tx("items", "readonly", (t) => promised(t.objectStore("items").get(id)));
export const putItem = (item) => tx("items", "readwrite", (t) => promised(t.objectStore("items").put(item)));
export const deleteItem = (id) => tx("items", "readwrite", (t) => promised(t.objectStore("items").delete(id)));
export const allItems = () => tx("items", "readonly", (t) => promised(t.objectStore("items").getAll()));

// Apply sync outcomes in one transaction, and only to items that were not edited meanwhile
// (an edit bumps `revision`), so a late answer never overwrites a correction.
export function applyOutcomes(outcomes) {
  return tx("items", "readwrite", async (t) => {
    const store = t.objectStore("items");
    for (const outcome of outcomes) {
      const item = await promised(store.get(outcome.id));
      if (!item || item.revision !== outcome.revision) continue;
      store.put({ ...item, ...outcome.changes });
    }
  });
}

export async function deviceId() {
  let id = await getMeta("device_id");
  if (!id) {
    id = "hp-" + crypto.randomUUID();
    await setMeta("device_id", id);
  }
  return id;
}

// The sealed evaluation's key: AES-GCM, generated on the device and stored non-extractable, so the
// answers rest as ciphertext and no screen of the app ever decrypts them except to send them.
export async function sealKey() {
  let key = await getMeta("seal_key");
  if (!key) {
    key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    await setMeta("seal_key", key);
  }
  return key;
}

export async function seal(value) {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(JSON.stringify(value));
  const cipher = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await sealKey(), data);
  return { iv: Array.from(iv), cipher: new Uint8Array(cipher) };
}

export async function unseal(sealed) {
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: new Uint8Array(sealed.iv) }, await sealKey(), sealed.cipher);
  return JSON.parse(new TextDecoder().decode(plain));
}
