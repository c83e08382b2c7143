from bot.analytics.cli import main

main()
