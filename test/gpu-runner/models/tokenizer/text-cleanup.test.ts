import { describe, expect, it } from 'vitest';
import { cleanPromptText, fixText, fixUtf8Mojibake, unescapeHtmlEntities } from '../../../../gpu-runner/models/tokenizer/text-cleanup.ts';

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
