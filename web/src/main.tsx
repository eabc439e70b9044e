import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { WagmiProvider } from 'wagmi';
import { loadConfig } from './config';
import { makeWagmiConfig } from './wagmi';
import { ConfigContext } from './hooks';
import { App } from './App';
import './style.css';

const root = createRoot(document.getElementById('root')!);

loadConfig()
  .then((cfg) => {
    const wagmi = makeWagmiConfig(cfg);
    const queries = new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false } } });
    root.render(
      <StrictMode>
        <ConfigContext.Provider value={cfg}>
          <WagmiProvider config={wagmi}>
            <QueryClientProvider client={queries}>
              <App />
            </QueryClientProvider>
          </WagmiProvider>
        </ConfigContext.Provider>
      </StrictMode>,
    );
  })
  .catch((e: unknown) => {
    root.render(
      <main className="page">
        <h1>MaskOracle</h1>
        <p role="alert" className="error">
          Cannot load the node's configuration ({String(e)}). Open the URL that `maskoracle ui` or `maskoracle devnet --keep` printed.
        </p>
      </main>,
    );
  });
