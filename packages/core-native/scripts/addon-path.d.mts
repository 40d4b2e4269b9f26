// Types of addon-path.mjs (plain JS, so that the install script runs before any build).
export declare const PACKAGE_DIR: string;
export declare const PREBUILT_ADDON: string;
export declare const LOCAL_ADDON: string;
