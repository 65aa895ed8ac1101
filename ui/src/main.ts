import './lib/locale';
import { mount } from 'svelte';
import App from './App.svelte';
import { tauriTransport } from './lib/transport';
import './styles.css';

const target = document.getElementById('app');
if (target) mount(App, { target, props: { transport: tauriTransport } });
