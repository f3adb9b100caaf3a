QuickStartExample.Run(args.Length > 0 ? args[0] : "runs/quickstart", Console.Out);
