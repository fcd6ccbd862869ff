import { WarrenError } from '../../core/errors.js';
import { composeRefusal } from './translate.js';

/* depends_on: each service's dependencies and the start order. Pure. */

export type DependsCondition = 'service_started' | 'service_healthy' | 'service_completed_successfully';

export interface Dependency {
  service: string;
  condition: DependsCondition;
}

export function dependencies(value: unknown): Dependency[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.map((service) => ({ service, condition: 'service_started' }));
  return Object.entries(value as Record<string, { condition?: DependsCondition }>).map(([service, spec]) => ({
    service,
    condition: spec.condition ?? 'service_started',
  }));
}

/** Services so that each comes after what it depends on (declaration order among equals); a cycle is refused. */
export function dependencyOrder(services: Record<string, Record<string, unknown>>): string[] {
  const names = Object.keys(services);
  const deps = new Map(
    names.map((name) => [name, dependencies(services[name]!['depends_on']).map((d) => d.service)]),
  );
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name].join(' -> ');
      throw new WarrenError(
        'SANDBOX_DEPENDENCY_CYCLE',
        `docker-compose.yml: depends_on forms a cycle: ${cycle}`,
        422,
      );
    }
    state.set(name, 'visiting');
    for (const dep of deps.get(name) ?? []) {
      if (!deps.has(dep))
        throw composeRefusal(`services.${name}.depends_on`, `no service ${JSON.stringify(dep)}`);
      visit(dep, [...path, name]);
    }
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of names) visit(name, []);
  return order;
}
