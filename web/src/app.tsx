import { ActiveJobs } from './components/job-progress';
import { Audit } from './pages/audit';
import { deniedReason } from './permissions';
import { ControlView } from './pages/control';
import { Overview } from './pages/overview';
import { Pipelines } from './pages/pipelines';
import { Search } from './pages/search';
import { Snapshots } from './pages/snapshots';
import { Link, useLocation, type Location } from './router';
import { useSession } from './session';

const NAV = [
  { href: '/overview', label: 'Overview' },
  { href: '/snapshots', label: 'Snapshots' },
  { href: '/pipelines', label: 'Pipelines' },
  { href: '/search', label: 'Search' },
  { href: '/audit', label: 'Audit' },
] as const;

function section(path: string): string {
  if (path === '/' || path === '/overview') return '/overview';
  if (path.startsWith('/controls/')) return '/search';
  return NAV.find((n) => path === n.href || path.startsWith(`${n.href}/`))?.href ?? '';
}

function View({ location }: { location: Location }) {
  const { path, params } = location;
  if (path === '/' || path === '/overview') return <Overview />;
  if (path === '/snapshots') return <Snapshots selected={null} />;
  if (path.startsWith('/snapshots/')) return <Snapshots selected={decodeURIComponent(path.slice('/snapshots/'.length))} />;
  if (path === '/pipelines') return <Pipelines />;
  if (path === '/audit') return <Audit />;
  if (path === '/search') {
    const search = { q: params.get('q') ?? '', mode: params.get('mode') ?? '', family: params.get('family') ?? '' };
    return <Search key={`${search.q}|${search.mode}|${search.family}`} {...search} />;
  }
  if (path.startsWith('/controls/')) return <ControlView id={decodeURIComponent(path.slice('/controls/'.length))} asOf={params.get('as_of')} />;
  return (
    <>
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <Link href="/overview">Go to the overview</Link>.
      </p>
    </>
  );
}

export function App() {
  const location = useLocation();
  const { role, signOut } = useSession();
  const current = section(location.path);
  return (
    <div className="layout">
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">nfr-connect</span>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => n.href !== '/audit' || deniedReason(role, 'viewAudit') === null).map((n) => (
              <li key={n.href}>
                <Link href={n.href} aria-current={current === n.href ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <span className="spacer" />
        <span className="role" aria-label="Signed in role">
          {role}
        </span>
        <button type="button" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <ActiveJobs />
      <main id="main" tabIndex={-1}>
        <View location={location} />
      </main>
    </div>
  );
}
