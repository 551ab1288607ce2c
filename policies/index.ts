// The opsbook policy pack. Run it with the stack's config file:
//   pulumi up --policy-pack policies --policy-pack-config policies/config/<stack>.json
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, packArgs } from "./pack";

new PolicyPack(PACK_NAME, packArgs);
