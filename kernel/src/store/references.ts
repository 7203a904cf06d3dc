/**
 * What live layers reference (issue 18), counted per object: one rule for gc and for
 * `snapshots rm`. A layer with a tree references its tree and every content object in it
 * (its tar object, when present, is a cache and is not referenced); a layer without one
 * (pulled, or from a store not migrated) references its tar object. A layer's `parent`
 * is lineage, not content — a snapshot's tree is its whole upper dir — so it keeps nothing.
 */
import { StoreError } from '../errors.js';
import { hasTree, readLayer } from '../layers/layer.js';
import { isHash } from '../hash.js';
import type { LayerRecord } from '../types.js';
import type { EnvMetadata } from './metadata.js';
import { readPackagesLayer } from './packages-layer.js';
import type { StoreLayout } from './layout.js';
import { treeContents } from './tree.js';
import { readTree } from './tree-tar.js';

/** The objects one layer needs (its tree and contents, or its tar object). */
export async function layerObjects(layout: StoreLayout, record: LayerRecord): Promise<Set<string>> {
  if (!(await hasTree(layout, record))) return new Set([record.object]);
  let contents: Set<string>;
  try {
    contents = treeContents(await readTree(layout, record.tree!));
  } catch (err) {
    // Unknown references: deleting anything now could delete what this layer needs.
    throw new StoreError('KP_STORE_TREE_UNREADABLE', `the tree ${record.tree} of layer ${record.hash} cannot be read, so what it references is unknown: ${(err as Error).message}`, {
      hint: 'run `karapace verify-store`; restore the tree by pulling the environment again, or remove the environments that use this layer',
      data: { layer: record.hash, tree: record.tree },
    });
  }
  contents.add(record.tree!);
  return contents;
}

/** Per object, how many of `layers` reference it. Missing layer records reference nothing. */
export async function objectReferences(layout: StoreLayout, layers: Iterable<string>): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const hash of layers) {
    const record = await readLayer(layout, hash).catch(() => undefined);
    if (!record) continue;
    for (const object of await layerObjects(layout, record)) counts.set(object, (counts.get(object) ?? 0) + 1);
  }
  return counts;
}

/**
 * Layers environments use (and roots that name layers). Not their parents: a snapshot's
 * tree is its whole upper dir, so a removed snapshot's layer is not kept by a later one.
 */
export function liveLayers(envs: EnvMetadata[], roots: Iterable<string> = []): Set<string> {
  return new Set([...envs.flatMap((m) => [...m.layers, ...m.snapshots.map((s) => s.layer)]), ...[...roots].filter(isHash)]);
}

/** The packages layers environments run on. */
export function livePackagesLayers(envs: EnvMetadata[]): Set<string> {
  return new Set(envs.map((m) => m.packages_layer).filter((n): n is string => n !== undefined));
}

/**
 * Adds to `counts` what packages layers reference: each layer's tree and its contents
 * (store/packages-objects.ts). A layer without a tree references none.
 */
export async function addPackagesLayerReferences(layout: StoreLayout, names: Iterable<string>, counts: Map<string, number>): Promise<void> {
  for (const name of new Set(names)) {
    const record = await readPackagesLayer(layout, name);
    if (!record?.tree) continue;
    let contents: Set<string>;
    try {
      contents = treeContents(await readTree(layout, record.tree));
    } catch (err) {
      throw new StoreError('KP_STORE_TREE_UNREADABLE', `the tree ${record.tree} of packages layer ${name} cannot be read, so what it references is unknown: ${(err as Error).message}`, {
        hint: 'run `karapace verify-store`; `karapace rebuild` the environments on that layer to make it again',
        data: { packages_layer: name, tree: record.tree },
      });
    }
    contents.add(record.tree);
    for (const object of contents) counts.set(object, (counts.get(object) ?? 0) + 1);
  }
}
