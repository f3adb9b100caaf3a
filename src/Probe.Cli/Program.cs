return await Probe.Cli.ProbeCli.RunAsync(args);
