export {BOX_NAME, BOX_TOOLS, BOX_VERSION, boxPreinstallFromEnv, cachedBoxes, ensureLibvirtBox, provisioningBasePackages, seedBoxVolume, vagrantHomeFor, type EnsureBoxOptions, type LibvirtBox} from './box.js'
export {LIBVIRT_HOST_TOOLS, startLibvirt, type LibvirtHost, type StartLibvirtOptions} from './daemon.js'
export {freezeCli, runCliInNetns, startCliInNetns, type NetnsCliOptions, type RunningCli} from './cli.js'
export {configureLabForHost, labEnv, type LabVmSettings} from './lab.js'
