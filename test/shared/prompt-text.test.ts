import { describe, expect, it } from 'vitest';
import { cleanPromptText, findPromptWord, fixText, fixUtf8Mojibake, hasVisibleText, promptWords, unescapeHtmlEntities } from '../../shared/prompt-text.ts';

describe('cleanPromptText (ftfy subset, whitespace, lowercase)', () => {
  it.each([
    ['  A  Brown\tBear\n walking ', 'a brown bear walking'],
    ['nbsp\u00a0em\u2003space', 'nbsp em space'],
    ['zero\u200bwidth', 'zero\u200bwidth'], // not White_Space, and ftfy keeps it
    ['“quoted” ‘single’ it’s', '"quoted" \'single\' it\'s'],
    ['ＦＵＬＬ　ｗｉｄｔｈ １２３', 'full width 123'],
    ['ﬁne ﬂowers ﬃx', 'fine flowers ffix'],
    ['cafÃ© crÃ¨me', 'café crème'],
    ['donâ€™t', "don't"], // UTF-8 of ’ read as Windows-1252, then uncurled
    ['cafe\u0301', 'café'], // NFC
    ['fish &amp; chips', 'fish & chips'],
    ['fish &amp;amp; chips', 'fish & chips'], // fixed until stable
    ['<b>bold &amp; brave</b>', '<b>bold &amp; brave</b>'], // '<' turns unescaping off
    ['bell\u0007 and \u001b[31mred\u001b[0m', 'bell and red'],
    ['ÉCOLE Straße Ångström naïve', 'école straße ångström naïve'], // real accents are not mojibake
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(cleanPromptText(input)).toBe(expected);
  });
});

describe('fixText', () => {
  it('stops unescaping HTML from the first line containing \'<\' onwards', () => {
    expect(fixText('a &amp; b\n<i> &amp;\nc &amp; d')).toBe('a & b\n<i> &amp;\nc &amp; d');
  });
});

describe('fixUtf8Mojibake', () => {
  it('leaves sequences that are not valid UTF-8 alone', () => {
    expect(fixUtf8Mojibake('Ã(')).toBe('Ã(');
    expect(fixUtf8Mojibake('Ã€')).toBe('À'); // C3 80
    expect(fixUtf8Mojibake('ðŸ˜€')).toBe('😀'); // 4-byte sequence
  });
});

describe('unescapeHtmlEntities', () => {
  it.each([
    ['&lt;&gt;&quot;', '<>"'],
    ['&#65;&#x42;&#X43;', 'ABC'],
    ['&EACUTE;', 'É'],
    ['&unknown; &#xZZ; &#0;', '&unknown; &#xZZ; &#0;'],
  ])('%j → %j', (input, expected) => {
    expect(unescapeHtmlEntities(input)).toBe(expected);
  });
});

describe('promptWords (what word-based knobs refer to)', () => {
  it.each([
    ['a brown bear walking', ['a', 'brown', 'bear', 'walking']],
    ['  A  Red\tTiger,\nwalking ', ['a', 'red', 'tiger,', 'walking']],
    ['fish&nbsp;chips', ['fish', 'chips']], // the entity becomes a no-break space, which splits
    ['a<|startoftext|>b', ['a', '<|startoftext|>', 'b']],
    ['', []],
  ])('%j -> %j', (text, words) => {
    expect(promptWords(text)).toEqual(words);
  });

  it('finds a word whatever its case, and only whole words', () => {
    const words = promptWords('a Red tiger walking');
    expect(findPromptWord(words, 'RED')).toBe(1);
    expect(findPromptWord(words, 'tig')).toBe(-1);
  });
});

describe('hasVisibleText', () => {
  it.each([
    ['a', true],
    ['🐻', true],
    ['.', true],
    ['', false],
    [' \t\n\u00a0\u3000', false],
    ['\u200b\u200c\u200d\u2060', false], // zero-width space, joiners, word joiner
    ['\u0001\u0007\u007f\ufeff', false], // controls and the BOM
    ['\u0301', false], // a combining mark on nothing
    ['\u001b[31m', false], // a terminal escape, removed by the cleanup
  ])('%j -> %s', (text, visible) => {
    expect(hasVisibleText(text)).toBe(visible);
  });
});
