// The gateway's routes: which containers serve each published service. Applied in place, never
// by replacing the gateway: the new routes file is written into the gateway's volume, checked
// with `nginx -t`, and loaded with `nginx -s reload`, which starts workers on the new upstreams
// while the old workers finish the requests they hold. Only once the gateway answers with the
// new generation does the update return, so Pulumi deletes replaced containers after traffic
// has left them.
import * as crypto from "crypto";
import * as http from "http";
import * as pulumi from "@pulumi/pulumi";
import { execInContainer, putFile, sleep } from "./dockerApi";

export interface GatewayRoute {
    /** Service name; also the upstream's name in the config. */
    service: string;
    /** Port the gateway listens on for this service (inside its container). */
    listenPort: number;
    /** Port on 127.0.0.1 that reaches `listenPort`, used to see that the reload took effect. */
    hostPort: number;
    /** `container-name:port` of every replica. */
    upstreams: string[];
}

export interface GatewayRoutesInputs {
    /** The gateway container's ID. */
    gateway: string;
    routes: GatewayRoute[];
}

export const ROUTES_DIR = "/etc/opsbook-gateway";
const GENERATION_HEADER = "x-opsbook-routes";

/** The generation of a set of routes: it changes exactly when the routes do. */
export function routesGeneration(routes: GatewayRoute[]): string {
    return crypto.createHash("sha256").update(JSON.stringify(routes)).digest("hex").slice(0, 12);
}

/** nginx config for the routes. Pure, so tests read it without an engine. */
export function renderRoutes(routes: GatewayRoute[]): string {
    const generation = routesGeneration(routes);
    return routes
        .map((route) => {
            const upstream = `svc_${route.service.replace(/[^a-zA-Z0-9_]/g, "_")}`;
            const servers = route.upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=2s;`).join("\n");
            return `upstream ${upstream} {
${servers}
}
server {
    listen ${route.listenPort};
    add_header X-Opsbook-Routes ${generation} always;
    location / {
        proxy_pass http://${upstream};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        # A replica that refuses the connection (draining, gone) is skipped; a request that
        # reached an app is never sent twice unless it is idempotent.
        proxy_next_upstream error timeout http_502 http_503;
        proxy_next_upstream_tries 3;
        proxy_connect_timeout 2s;
        proxy_read_timeout 60s;
    }
}
`;
        })
        .join("\n");
}

function generationAt(hostPort: number): Promise<string | undefined> {
    return new Promise((resolve) => {
        const req = http.request(
            { host: "127.0.0.1", port: hostPort, path: "/", method: "HEAD", timeout: 2000, agent: false },
            (res) => {
                res.resume();
                const value = res.headers[GENERATION_HEADER];
                resolve(typeof value === "string" ? value : undefined);
            },
        );
        req.on("timeout", () => req.destroy());
        req.on("error", () => resolve(undefined));
        req.end();
    });
}

async function applyRoutes(inputs: GatewayRoutesInputs, previous?: GatewayRoutesInputs): Promise<void> {
    await putFile(inputs.gateway, ROUTES_DIR, "routes.conf", renderRoutes(inputs.routes));
    const check = await execInContainer(inputs.gateway, ["nginx", "-t", "-q", "-c", "/etc/nginx/opsbook.conf"]);
    if (check.exitCode !== 0) {
        // Put the last good routes back, so a restart of the gateway still starts.
        if (previous && previous.gateway === inputs.gateway) {
            await putFile(inputs.gateway, ROUTES_DIR, "routes.conf", renderRoutes(previous.routes));
        }
        throw new Error(`the gateway refused the new routes (nginx -t):\n${check.output}`);
    }
    const reload = await execInContainer(inputs.gateway, ["nginx", "-s", "reload", "-c", "/etc/nginx/opsbook.conf"]);
    if (reload.exitCode !== 0) {
        throw new Error(`the gateway did not reload: ${reload.output}`);
    }
    const generation = routesGeneration(inputs.routes);
    const deadline = Date.now() + 30_000;
    for (const route of inputs.routes) {
        while ((await generationAt(route.hostPort)) !== generation) {
            if (Date.now() > deadline) {
                throw new Error(`the gateway did not serve routes ${generation} for ${route.service} on 127.0.0.1:${route.hostPort} within 30s`);
            }
            await sleep(100);
        }
    }
}

const gatewayRoutesProvider: pulumi.dynamic.ResourceProvider = {
    async create(inputs: GatewayRoutesInputs) {
        await applyRoutes(inputs);
        return { id: crypto.randomUUID(), outs: { ...inputs, generation: routesGeneration(inputs.routes) } };
    },
    async diff(_id: string, olds: GatewayRoutesInputs, news: GatewayRoutesInputs) {
        const changed = olds.gateway !== news.gateway || JSON.stringify(olds.routes) !== JSON.stringify(news.routes);
        return { changes: changed, replaces: [], deleteBeforeReplace: false };
    },
    async update(_id: string, olds: GatewayRoutesInputs, news: GatewayRoutesInputs) {
        await applyRoutes(news, olds);
        return { outs: { ...news, generation: routesGeneration(news.routes) } };
    },
    // The routes live in the gateway; deleting the gateway deletes them.
    async delete() {},
};

export interface GatewayRoutesArgs {
    gateway: pulumi.Input<string>;
    routes: pulumi.Input<pulumi.Input<{ service: string; listenPort: number; hostPort: pulumi.Input<number>; upstreams: pulumi.Input<string[]> }>[]>;
}

/** The gateway's upstreams, updated in place with a graceful reload. */
export class GatewayRoutes extends pulumi.dynamic.Resource {
    declare public readonly generation: pulumi.Output<string>;

    constructor(name: string, args: GatewayRoutesArgs, opts?: pulumi.CustomResourceOptions) {
        super(gatewayRoutesProvider, name, { generation: undefined, ...args }, opts, "opsbook", "GatewayRoutes");
    }
}
