/**
 * Preloaded (`--require`) into every process the launcher starts. The launcher runs its children in
 * their own process groups, so a Ctrl-C in the terminal reaches only the launcher, which then stops the
 * services before the database. The price is that a child would outlive a launcher killed with
 * SIGKILL; the IPC channel closes when the launcher dies, and the child then stops as on SIGTERM.
 */
if (process.send && process.channel) {
  // The channel must not keep the service alive by itself.
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
}
