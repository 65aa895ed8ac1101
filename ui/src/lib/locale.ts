// Imported first (main.ts): with LANG=C (CI, minimal desktops) WebKit reports the language
// "C", which Intl rejects, and uPlot builds its number formatter from it when its module loads
// — the whole UI would fail to start. Fall back to a valid tag before anything else runs.
function validLocale(tag: string): boolean {
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

if (typeof navigator !== 'undefined' && !validLocale(navigator.language)) {
  Object.defineProperty(Navigator.prototype, 'language', { get: () => 'en-US', configurable: true });
  Object.defineProperty(Navigator.prototype, 'languages', { get: () => ['en-US'], configurable: true });
}

export {};
