// Markdown → sanitised HTML, with highlighted code blocks. Model output is untrusted: every
// HTML string goes through DOMPurify before it reaches the page.
import { Marked } from 'marked';
import DOMPurify from 'dompurify';
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import typescript from 'highlight.js/lib/languages/typescript';
import sql from 'highlight.js/lib/languages/sql';

for (const [name, lang] of Object.entries({ bash, c, cpp, javascript, json, python, rust, typescript, sql })) {
  hljs.registerLanguage(name, lang);
}
hljs.registerAliases(['sh', 'shell'], { languageName: 'bash' });
hljs.registerAliases(['js'], { languageName: 'javascript' });
hljs.registerAliases(['ts'], { languageName: 'typescript' });
hljs.registerAliases(['py'], { languageName: 'python' });
hljs.registerAliases(['rs'], { languageName: 'rust' });

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const md = new Marked({
  gfm: true,
  breaks: true,
  renderer: {
    code({ text, lang }) {
      const language = (lang ?? '').trim().split(/\s+/)[0];
      const body = language && hljs.getLanguage(language)
        ? hljs.highlight(text, { language }).value
        : escape(text);
      const label = language ? `<span class="code-lang">${escape(language)}</span>` : '';
      return `<div class="code">${label}<pre><code class="hljs">${body}</code></pre></div>`;
    },
  },
});

export function renderMarkdown(text: string): string {
  const html = md.parse(text, { async: false }) as string;
  return DOMPurify.sanitize(html);
}

/** An SVG plot from the bench crate, sanitised like everything else that becomes HTML. */
export function sanitizeSvg(svg: string): string {
  return DOMPurify.sanitize(svg, { USE_PROFILES: { svg: true, svgFilters: true } });
}
