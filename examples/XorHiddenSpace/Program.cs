namespace Probe.Examples.XorHiddenSpace;

internal static class Program
{
    static int Main(string[] args)
    {
        string outDir = args.Length > 0 ? args[0] : "xor-hidden-space";
        var r = XorHiddenSpaceExample.Run(new XorSettings(), outDir, Console.Out);
        Console.WriteLine($"Wrote {r.Figure}");
        return 0;
    }
}
