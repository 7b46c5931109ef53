import { describe, expect, it } from 'vitest';
import { Interner, hashString } from '../src/intern.js';

describe('Interner', () => {
  it('answers from its last-asked entries exactly as from its maps', () => {
    const i = new Interner();
    expect(i.id('')).toBe(0); // the empty string is a value like any other, not "nothing asked yet"
    expect(i.peek('GET a/b')).toBe(-1);
    expect(i.peek('GET a/b')).toBe(-1); // an unknown string is not remembered as unknown…
    const id = i.id('GET a/b');
    expect(i.peek('GET a/b')).toBe(id); // …so it is found once interned
    expect(i.id('GET a/b')).toBe(id);
    expect(i.id('POST a/b')).toBe(id + 1);
    expect(i.id('GET a/b')).toBe(id);
    expect(i.str(id)).toBe('GET a/b');
    expect(i.hashOf(id)).toBe(hashString('GET a/b'));
  });

  it('finds values of a kind interned by their full name (restored state) and keeps the ids stable', () => {
    const i = new Interner();
    const restored = i.id('host:api.example');
    expect(i.kindPeek('tool', 'api.example')).toBe(-1);
    expect(i.kindPeek('host', 'api.example')).toBe(restored);
    expect(i.kindId('host', 'api.example')).toBe(restored);
    expect(i.kindPeek('host', 'other.example')).toBe(-1);
    const other = i.kindId('host', 'other.example');
    expect(i.str(other)).toBe('host:other.example');
    expect(i.kindPeek('host', 'other.example')).toBe(other);
    expect(i.kindPeek('host', 'api.example')).toBe(restored);
    expect(i.peek('host:other.example')).toBe(other);
  });
});
