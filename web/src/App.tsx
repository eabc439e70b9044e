import { useEffect, useState } from 'react';
import { useAccount, useConnect, useConnectors, useDisconnect } from 'wagmi';
import { RequestPage } from './pages/Request';
import { TaskPage } from './pages/Task';
import { ExplorerPage } from './pages/Explorer';
import { OperatorPage } from './pages/Operator';
import { short } from './lib/format';

/** Routes live in the URL fragment (`#/task/7`), so any static server can serve the app. */
function useRoute(): string[] {
  const read = () => window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return route;
}

function Wallet() {
  const { address, isConnected } = useAccount();
  const connectors = useConnectors();
  const { connect, isPending, error } = useConnect();
  const { disconnect } = useDisconnect();
  if (isConnected) {
    return (
      <div className="wallet">
        <span className="mono" title={address} data-testid="account">
          {short(address)}
        </span>
        <button type="button" className="secondary" onClick={() => disconnect()}>
          Disconnect
        </button>
      </div>
    );
  }
  // EIP-6963 wallets announce themselves; the generic injected connector covers window.ethereum.
  const announced = connectors.filter((c) => c.type !== 'injected' || c.id !== 'injected');
  const shown = announced.length ? announced : connectors;
  return (
    <div className="wallet">
      {shown.map((c) => (
        <button type="button" key={c.uid} disabled={isPending} onClick={() => connect({ connector: c })}>
          Connect {c.name === 'Injected' ? 'wallet' : c.name}
        </button>
      ))}
      {error && (
        <span role="alert" className="error small">
          {error.message.split('\n')[0]}
        </span>
      )}
    </div>
  );
}

export function App() {
  const route = useRoute();
  const page = route[0] ?? 'request';
  const nav = [
    ['request', 'Request'],
    ['explorer', 'Explorer'],
    ['operator', 'Operator'],
  ];
  let body;
  if (page === 'task' && route[1] && /^\d+$/.test(route[1])) body = <TaskPage id={BigInt(route[1])} />;
  else if (page === 'explorer') body = <ExplorerPage tab={route[1]} arg={route[2]} />;
  else if (page === 'operator') body = <OperatorPage />;
  else body = <RequestPage />;
  return (
    <>
      <header className="top">
        <a className="brand" href="#/">
          MaskOracle
        </a>
        <nav aria-label="Main">
          {nav.map(([id, label]) => (
            <a key={id} href={`#/${id}`} aria-current={page === id ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <Wallet />
      </header>
      <main className="page">{body}</main>
    </>
  );
}
