import { useEffect, useState } from 'preact/hooks';

/** The path of the hash route: `#/tasks/new` → `/tasks/new`. */
export function currentPath(): string {
  const hash = window.location.hash.replace(/^#/, '');
  return hash.startsWith('/') ? hash : '/tasks';
}

export function navigate(path: string) {
  if (currentPath() !== path || !window.location.hash) window.location.hash = path;
}

export function useRoute(): string {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const onChange = () => setPath(currentPath());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return path;
}
