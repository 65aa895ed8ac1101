// The main area's views: the chat, or one of the tools from the sidebar.
export type View = 'chat' | 'compare' | 'monitor' | 'bench' | 'endpoint' | 'settings';
