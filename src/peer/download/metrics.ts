import { Counter, type Registry } from 'prom-client';

export interface DownloadMetrics {
  bytes: Counter<'from'>;
  badPieces: Counter;
  downloads: Counter<'result'>;
}

export function downloadMetrics(registry: Registry): DownloadMetrics {
  const registers = [registry];
  return {
    bytes: new Counter({
      name: 'warren_download_bytes_total',
      help: 'Verified piece bytes downloaded, by where they came from',
      labelNames: ['from'],
      registers,
    }),
    badPieces: new Counter({
      name: 'warren_bad_pieces_total',
      help: 'Pieces from parents that did not match the manifest',
      registers,
    }),
    downloads: new Counter({
      name: 'warren_downloads_total',
      help: 'Downloads ended, by result',
      labelNames: ['result'],
      registers,
    }),
  };
}
