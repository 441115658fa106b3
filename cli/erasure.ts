console.log("hello from erasure", process.argv.slice(2))
