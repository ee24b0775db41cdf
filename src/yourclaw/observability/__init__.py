"""What the processes measure (`metrics`) and how they answer a scrape (`exposition`)."""
